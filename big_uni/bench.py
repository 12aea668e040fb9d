"""Throughput of a config's real train step on synthetic data: compile time, steps/s, MFU.

  python -m big_uni.bench --config=configs/vit_b16.py --config.input.batch_size=256 --steps=20

Prints one `key=value` per line. FLOPs per step come from XLA's cost analysis of the step
(forward + backward + optimizer) lowered unscanned (a scanned loop's body is counted once), divided
over the devices; MFU divides the achieved FLOP/s by the device's
peak dense bf16 rate (`--peak_tflops`, or the table below for known accelerators).
"""
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

import jax  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

from big_uni import aot, data, sharding, train  # pylint: disable=g-import-not-at-top

# Peak dense bf16 TFLOP/s per device, from the vendors' data sheets.
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'TPU v4': 275.0, 'TPU v5 lite': 197.0,
               'TPU v5p': 459.0, 'TPU v6 lite': 918.0}

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file, optionally :variant.',
                                          lock_config=True)
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps (after one warm-up step).')
_PEAK = flags.DEFINE_float('peak_tflops', 0.0, 'Peak TFLOP/s per device for MFU (0: look up).')


def peak_tflops(device) -> float | None:
  kind = device.device_kind
  return next((peak for name, peak in PEAK_TFLOPS.items() if name in kind), None)


def benchmark(config, steps: int, peak: float | None = None) -> dict[str, float]:
  """Compiles and times `steps` train steps of `config` on synthetic batches of its shapes."""
  config = config.copy_and_resolve_references()
  config.input.dataset = 'synthetic'
  trainer = train.Trainer(config, total_steps=steps + 1)
  batches = data.get_iterator(config, config.input.train_split, train=True, num_steps=steps + 1,
                              task=trainer.task)
  with trainer.context():
    batch = sharding.global_batch(next(batches), trainer.mesh)
    state = trainer.init_state()
    start = time.perf_counter()
    compiled = trainer.train_step.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    state, metrics = compiled(state, batch)  # Warm-up.
    jax.block_until_ready(metrics)
    device_batches = [sharding.global_batch(b, trainer.mesh) for b in batches]
    start = time.perf_counter()
    for batch in device_batches:
      state, metrics = compiled(state, batch)
    jax.block_until_ready((state, metrics))
    seconds = time.perf_counter() - start
  steps_per_sec = len(device_batches) / seconds
  flops_per_device = aot.flops_per_step(config, config.input.batch_size) / jax.device_count()
  result = {
      'params': train.count_params(state.params),
      'devices': jax.device_count(),
      'compile_s': compile_s,
      'step_ms': 1000 / steps_per_sec,
      'steps_per_sec': steps_per_sec,
      'examples_per_sec': steps_per_sec * config.input.batch_size,
      'tflops_per_step_per_device': flops_per_device / 1e12,
      'achieved_tflops_per_device': flops_per_device * steps_per_sec / 1e12,
  }
  peak = peak or peak_tflops(jax.devices()[0])
  if peak:
    result['mfu'] = result['achieved_tflops_per_device'] / peak
  return result


def main(argv):
  del argv
  for key, value in benchmark(_CONFIG.value, _STEPS.value, _PEAK.value).items():
    print(f'{key}={value:.6g}' if isinstance(value, float) else f'{key}={value}')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
