"""Sharded training equals single-device training; parameters are really sharded."""
import json
import os
import subprocess
import sys

import pytest

from big_uni import sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def sharded_results():
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'sharded_steps.py')],
                       capture_output=True, text=True, cwd=ROOT, check=True,
                       env={**os.environ, 'PYTHONPATH': ROOT})
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('layout', ['dp8', 'fsdp8', 'tp4_dp2', 'fsdp4_tp2'])
def test_sharded_steps_equal_single_device(sharded_results, layout):
  single, sharded = sharded_results['single'], sharded_results[layout]
  for a, b in zip(single['losses'], sharded['losses']):
    assert abs(a - b) < 1e-5
  assert sharded['max_param_diff'] < 1e-5


def test_params_are_sharded_not_replicated(sharded_results):
  # fc1 kernel [embed=64, mlp=128]: embed over fsdp, mlp over tensor.
  assert sharded_results['single']['fc1_shard_shape'] == [64, 128]
  assert sharded_results['dp8']['fc1_shard_shape'] == [64, 128]
  assert sharded_results['fsdp8']['fc1_shard_shape'] == [8, 128]
  assert sharded_results['tp4_dp2']['fc1_shard_shape'] == [64, 32]
  assert sharded_results['fsdp4_tp2']['fc1_shard_shape'] == [16, 64]


def test_mesh_errors_name_the_problem():
  with pytest.raises(ValueError, match='unknown mesh axes'):
    sharding.make_mesh({'model': 2})
  with pytest.raises(ValueError, match='needs 4 devices'):
    sharding.make_mesh({'data': 4})
