"""The benchmark's FLOP count does not depend on how the layers are laid out."""
import pytest

from big_uni import bench
from configs import vit_ti16


def _flops(scan_layers: bool) -> float:
  config = vit_ti16.get_config('smoke')
  config.model.scan_layers = scan_layers
  config.input.batch_size = 4
  return bench.benchmark(config, steps=1)['tflops_per_step_per_device']


def test_scanned_and_unscanned_steps_count_the_same_flops():
  unscanned = _flops(False)
  assert unscanned > 0
  assert _flops(True) == pytest.approx(unscanned, rel=1e-6)
