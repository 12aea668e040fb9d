"""XLA flags the launchers (big_uni.main, benchmarks.bench) set before JAX starts.

A flag already in $XLA_FLAGS keeps the user's value. None is set for CPUs: turning XLA:CPU's
YNNPACK dot fusions off (`--xla_cpu_experimental_ynn_fusion_type=`) made train steps of ViT-S/16,
BERT-base and CLIP-B/16 at batch 8 from 13% faster to 7% slower from run to run on a 2-core
machine: no better than its run-to-run spread (about 10%).
"""
import os

DEFAULT_FLAGS = (
    # NVIDIA JAX-Toolbox's recommendation: overlap collectives with compute on GPUs (not yet
    # measured here: no multi-GPU machine).
    '--xla_gpu_enable_latency_hiding_scheduler=true',
)


def set_defaults(environ=os.environ) -> str:
  """Prepends the DEFAULT_FLAGS the user has not set to $XLA_FLAGS; returns the result."""
  user_flags = environ.get('XLA_FLAGS', '').split()
  user_names = {flag.split('=')[0] for flag in user_flags}
  added = [flag for flag in DEFAULT_FLAGS if flag.split('=')[0] not in user_names]
  environ['XLA_FLAGS'] = ' '.join(added + user_flags)
  return environ['XLA_FLAGS']
