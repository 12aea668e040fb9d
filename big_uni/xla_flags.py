"""XLA flags the launchers (big_uni.main, big_uni.bench) set before JAX starts.

Each is a measured default, not a tuning guess; a flag already in $XLA_FLAGS keeps the user's
value. The figures are in README "Performance".
"""
import os

DEFAULT_FLAGS = (
    # XLA:CPU hands dots to YNNPACK one thread each and overlaps them; its Eigen dots use every
    # core per dot, which is faster for transformer steps (ViT-S/16 batch 8, 2 cores: 3.18 s ->
    # 2.80 s a step).
    '--xla_cpu_experimental_ynn_fusion_type=',
    # NVIDIA JAX-Toolbox's recommendation: overlap collectives with compute on GPUs.
    '--xla_gpu_enable_latency_hiding_scheduler=true',
)


def set_defaults(environ=os.environ) -> str:
  """Prepends the DEFAULT_FLAGS the user has not set to $XLA_FLAGS; returns the result."""
  user_flags = environ.get('XLA_FLAGS', '').split()
  user_names = {flag.split('=')[0] for flag in user_flags}
  added = [flag for flag in DEFAULT_FLAGS if flag.split('=')[0] not in user_names]
  environ['XLA_FLAGS'] = ' '.join(added + user_flags)
  return environ['XLA_FLAGS']
