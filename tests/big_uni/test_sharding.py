"""Sharded training equals single-device training for ViT, BERT, CLIP and the Transformer;
parameters are really sharded; scan over layers and gradient accumulation change nothing
numerically."""
import dataclasses
import os
import re
import subprocess
import sys

import pytest

from big_uni import errors, sharding
from tests.helpers import script_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Per-device shape of the first MLP kernel [embed=64, mlp=128]: embed over fsdp, mlp over tensor
# (scanned: a leading [layers=2] axis, never sharded).
FC1_SHARD_SHAPES = {'single': [64, 128], 'dp8': [64, 128], 'fsdp8': [8, 128],
                    'tp4_dp2': [64, 32], 'fsdp4_tp2': [16, 64], 'fsdp4_tp2_scan': [2, 16, 64],
                    'fsdp8_accum4': [8, 128]}


def _sharded_steps(model: str) -> dict:
  return script_json.run('tests/helpers/scripts/sharded_steps.py', model)


# BERT, CLIP and the Transformer (140 s and more on 2 busy cores) in the slow call; ViT in the
# README's suite.
@pytest.mark.parametrize('model', ['vit', pytest.param('bert', marks=pytest.mark.slow),
                                   pytest.param('clip', marks=pytest.mark.slow),
                                   pytest.param('translation', marks=pytest.mark.slow)])
def test_every_layout_trains_like_one_device(model):
  results = _sharded_steps(model)
  assert set(results) == set(FC1_SHARD_SHAPES)
  single = results['single']
  for name, run in results.items():
    assert max(abs(a - b) for a, b in zip(single['losses'], run['losses'])) < 1e-5, name
    # The Transformer: 1.05e-5 in tp4_dp2, in its 8,000-row tied embedding, whose rows of tokens
    # absent from the batch get only the softmax's tiny gradient, which Adam scales up (its
    # losses agree to 4e-6).
    assert run['max_param_diff'] < (2e-5 if model == 'translation' else 1e-5), name
    assert run['fc1_shard_shape'] == FC1_SHARD_SHAPES[name], name
  # FSDP=8: each device holds 1/8 of every large param, not a replicated copy.
  assert results['fsdp8']['max_big_param_fraction'] == 1 / 8
  assert results['dp8']['max_big_param_fraction'] == 1.0


def _shapes_per_device_mib(mesh_flags: list[str]) -> tuple[float, float]:
  """(params, optimizer) MiB per device that `--mode=shapes` prints for ViT-H/14 on 8 devices."""
  out = subprocess.run(
      [sys.executable, '-m', 'big_uni.main', '--config=configs/vit_h14.py', '--mode=shapes',
       *mesh_flags], capture_output=True, text=True, cwd=ROOT, check=True,
      env={**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=8'})
  line = next(line for line in out.stdout.splitlines() if 'per device' in line)
  params, optimizer = re.findall(r'([\d,.]+) MiB', line)
  return float(params.replace(',', '')), float(optimizer.replace(',', ''))


def test_shapes_mode_prints_bytes_per_device_of_the_configured_mesh():
  replicated = _shapes_per_device_mib(['--config.mesh.data=8'])
  fsdp = _shapes_per_device_mib(['--config.mesh.data=1', '--config.mesh.fsdp=8'])
  assert replicated == pytest.approx((632_045_800 * 4 / 2**20, 2 * 632_045_800 * 4 / 2**20),
                                     abs=0.1)  # f32 params; Adam's two moments
  # FSDP=8: an eighth, plus the few small params without an `embed` axis (biases), replicated.
  assert replicated[0] / 8 <= fsdp[0] < replicated[0] / 8 * 1.01
  assert replicated[1] / 8 <= fsdp[1] < replicated[1] / 8 * 1.01


def test_mesh_errors_name_the_problem():
  with pytest.raises(ValueError, match='unknown mesh axes'):
    sharding.make_mesh({'model': 2})
  with pytest.raises(ValueError, match='needs 4 devices'):
    sharding.make_mesh({'data': 4})


@dataclasses.dataclass(frozen=True)
class _Device:
  """A device of a multi-process run, as far as make_mesh reads one."""
  id: int
  process_index: int


def test_a_tensor_axis_across_processes_is_refused():
  two_hosts = [_Device(i, process_index=i // 4) for i in range(8)]  # 2 processes x 4 devices
  for mesh in ({'data': 2, 'tensor': 4}, {'fsdp': 4, 'tensor': 2}, {'fsdp': 8}, {'data': 8}):
    sharding.make_mesh(mesh, two_hosts)
  with pytest.raises(errors.UserInputError, match=r'processes \[0, 1\] on one batch shard .*'
                     r'a divisor of its 4 devices'):
    sharding.make_mesh({'data': 1, 'tensor': 8}, two_hosts)
  four_hosts = [_Device(i, process_index=i // 2) for i in range(8)]
  sharding.make_mesh({'data': 4, 'tensor': 2}, four_hosts)
  with pytest.raises(errors.UserInputError, match=r'processes \[0, 1\]'):
    sharding.make_mesh({'fsdp': 2, 'tensor': 4}, four_hosts)
