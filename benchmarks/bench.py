r"""Throughput of a config's real train step on synthetic data, optionally next to its PyTorch peer.

  python -m benchmarks.bench --config=configs/vit_s16.py --config.input.batch_size=8 --steps=5 \
      --peer

Prints `key=value` lines, then one JSON line with every figure. The step is timed one call at a
time after a warm-up step and the median is reported (steps on a shared machine have outliers).
FLOPs are model FLOPs (big_uni/flops.py: matmuls, backward = 2x forward, no recomputation), the
same count as the training logs; MFU divides the achieved FLOP/s per chip by its peak dense bf16
rate (`--peak_tflops`, or flops.PEAK_TFLOPS), and is null on CPUs, which have no such peak.
`--peer` also trains the HF `transformers` model of the same shapes on the same batches
(benchmarks/bench_peers.py); `ratio` is big_uni's throughput over the peer's.
"""
import json
import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from big_uni import xla_flags  # pylint: disable=g-import-not-at-top

xla_flags.set_defaults()  # Before JAX starts.

import jax  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

from big_uni import data, flops, models, sharding, tasks, train  # pylint: disable=g-import-not-at-top

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file, optionally :variant.',
                                          lock_config=True)
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps (after one warm-up step).')
_PEAK = flags.DEFINE_float('peak_tflops', 0.0, 'Peak TFLOP/s per device for MFU (0: look up).')
_PEER = flags.DEFINE_bool('peer', False, 'Also time the PyTorch peer (benchmarks/bench_peers.py).')


def benchmark(config, steps: int, peak: float | None = None, peer: bool = False,
              name: str = '') -> dict:
  """Compiles and times `steps` train steps of `config` on synthetic batches of its shapes."""
  config = config.copy_and_resolve_references()
  config.input.dataset = 'synthetic'
  task = tasks.build_task(config)
  host_batches = list(data.Data(config, task).batches(
      config.input.train_split, train=True, num_steps=steps + 1))
  # The peer runs first and hands its GPU memory back before JAX takes its share.
  peer_timing = None
  if peer:
    from benchmarks import bench_peers  # pylint: disable=g-import-not-at-top
    peer_timing = bench_peers.time_peer(config, task.model, host_batches)
  trainer = train.Trainer(config, total_steps=steps + 1)
  with trainer.context():
    batches = [sharding.global_batch(b, trainer.mesh) for b in host_batches]
    state = trainer.init_state()
    start = time.perf_counter()
    compiled = trainer.train_step.lower(state, batches[0]).compile()
    compile_s = time.perf_counter() - start
    times = []
    for batch in batches:  # The first is the warm-up.
      start = time.perf_counter()
      state, metrics = compiled(state, batch)
      jax.block_until_ready((state, metrics))
      times.append(time.perf_counter() - start)
  step_s = statistics.median(times[1:])
  batch_size = config.input.batch_size
  cost = flops.step_cost(trainer.task, batch_size)
  devices = jax.device_count()
  tflops_per_device = cost.flops / devices / 1e12
  peak = peak or flops.peak_tflops(jax.devices()[0])
  result = {
      'config': name,
      'device': f'{devices} x {jax.devices()[0].device_kind}',
      'batch_size': batch_size,
      'compute': models.describe_compute(trainer.task.model),
      'params': train.count_params(state.params),
      'compile_time_s': compile_s,
      'step_time_s': step_s,
      'examples_per_sec': batch_size / step_s,
      'tokens_per_sec': cost.tokens / step_s,
      'tflops_per_step_per_device': tflops_per_device,
      'tflops_per_sec': tflops_per_device / step_s,
      'mfu': tflops_per_device / step_s / peak if peak else None,
  }
  if peer_timing:
    result.update(peer=peer_timing.name, peer_compile_time_s=peer_timing.compile_time_s,
                  peer_step_time_s=peer_timing.step_time_s,
                  peer_examples_per_sec=batch_size / peer_timing.step_time_s,
                  ratio=peer_timing.step_time_s / step_s)
  return result


def main(argv):
  del argv
  name = config_flags.get_config_filename(flags.FLAGS['config'])
  result = benchmark(_CONFIG.value, _STEPS.value, _PEAK.value, _PEER.value, name)
  for key, value in result.items():
    print(f'{key}={value:.6g}' if isinstance(value, float) else f'{key}={value}')
  print(json.dumps(result))


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
