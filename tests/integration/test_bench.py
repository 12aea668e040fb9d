"""The bench runs (tiny configs, with and without the PyTorch peer) and prints its JSON line; its
FLOP count does not depend on how the layers are laid out; benchmarks/cpu_ops.py runs."""
import pytest

from benchmarks import bench
from configs import bert_base, clip_b16, vit_ti16
from tests.helpers import script_json
from tests.helpers import import_or_skip

_KEYS = ('config', 'device', 'batch_size', 'compute', 'compile_time_s', 'step_time_s',
         'examples_per_sec', 'tokens_per_sec', 'tflops_per_sec', 'mfu')


def _flops(scan_layers: bool) -> float:
  config = vit_ti16.get_config('smoke')
  config.model.scan_layers = scan_layers
  config.input.batch_size = 4
  return bench.benchmark(config, steps=1)['tflops_per_step_per_device']


# 21 s, in the slow call (the README's suite keeps to 15 minutes); scanned and unscanned blocks
# computing the same is tests/models/test_scan.py's.
@pytest.mark.slow
def test_scanned_and_unscanned_steps_count_the_same_flops():
  unscanned = _flops(False)
  assert unscanned > 0
  assert _flops(True) == pytest.approx(unscanned, rel=1e-6)


def test_bench_prints_its_figures_as_one_json_line_and_no_mfu_on_a_cpu():
  result = script_json.run_module('benchmarks.bench', '--config=configs/vit_ti16.py:smoke',
                                  '--config.input.batch_size=4', '--steps=2')
  assert set(_KEYS) <= set(result) and 'peer_step_time_s' not in result
  assert result['config'] == 'configs/vit_ti16.py:smoke' and result['mfu'] is None
  assert result['step_time_s'] > 0 and result['examples_per_sec'] == pytest.approx(
      4 / result['step_time_s'])
  assert 'float32 activations, xla attention' in result['compute']


# BERT's and CLIP's peers (14 s and 16 s) run in the slow call; ViT's stays in the README's suite.
@pytest.mark.parametrize('module', [
    vit_ti16, pytest.param(bert_base, marks=pytest.mark.slow),
    pytest.param(clip_b16, marks=pytest.mark.slow)], ids=lambda m: m.__name__)
def test_every_model_runs_next_to_its_pytorch_peer(module):
  import_or_skip('transformers')
  config = module.get_config('smoke')
  config.input.batch_size = 4
  result = bench.benchmark(config, steps=2, peer=True)
  assert result['peer'].startswith('transformers.') and 'eager, float32' in result['peer']
  assert result['peer_step_time_s'] > 0
  assert result['ratio'] == pytest.approx(result['peer_step_time_s'] / result['step_time_s'])


def test_cpu_ops_script_times_every_op_on_both_sides():
  import_or_skip('torch')
  result = script_json.run('benchmarks/cpu_ops.py', '--batch=2', '--tokens=9', '--width=16',
                           '--heads=2', '--repeats=2')
  assert {'MLP in, [BL,D]x[D,F]', 'attention QK^T', 'softmax', 'attention core fwd+bwd',
          'GELU fwd+bwd', 'LayerNorm fwd+bwd'} <= set(result)
  assert all(op['jax_ms'] > 0 and op['torch_ms'] > 0 for op in result.values())
