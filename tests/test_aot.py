"""TPU ahead-of-time compilation (`--mode=aot`) on this CPU machine, with libtpu."""
import importlib.util
import os
import subprocess
import sys

import pytest

from big_uni import aot, errors, shapes, train
from configs import vit_b16
from tests.conftest import requires

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_libtpu = requires(importlib.util.find_spec('libtpu') is not None,
                        "libtpu is not installed: pip install -e '.[tpu_aot]'")
# 2 layers, 256 wide, 2 heads of 128: TPU tiles pad narrower arrays, which would hide the count.
OVERRIDES = dict(scan_layers=True, dtype='bfloat16', width=256, mlp_dim=1024)


def _config(**mesh):
  config = vit_b16.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.model.update(OVERRIDES)
  config.mesh.update({'data': 1, 'fsdp': 1, 'tensor': 1, **mesh})
  return config


@needs_libtpu
@pytest.mark.parametrize('mesh', [{'data': 4}, {'fsdp': 4}], ids=['dp4', 'fsdp4'])
def test_argument_bytes_are_the_sharded_state_and_batch(mesh, capsys):
  config = _config(**mesh)
  figures = aot.run(config, 'v4-8')
  trainer = train.Trainer(config, total_steps=1, devices=aot.get_topology('v4-8').devices)
  state = shapes.per_device_bytes(trainer.abstract_state)  # params + optimizer, per device
  batch = shapes.per_device_bytes(aot._abstract_batch(trainer, config.input.batch_size))
  assert figures['fits'] and figures['devices'] == 4
  assert state + batch <= figures['argument_bytes'] < 1.05 * (state + batch)  # + tile padding
  assert state <= figures['alias_bytes'] < 1.05 * state  # the donated state is updated in place
  assert figures['flops_per_step'] == pytest.approx(4 * figures['flops_per_device'])
  printed = capsys.readouterr().out
  for key in ('argument_bytes', 'output_bytes', 'temp_bytes', 'generated_code_bytes',
              'alias_bytes', 'total_bytes', 'fits', 'flops_per_step', 'flops_per_device'):
    assert f'\n{key}=' in printed


@needs_libtpu
def test_cli_compiles_for_a_topology():
  out = subprocess.run(
      [sys.executable, '-m', 'big_uni.main', '--config=configs/vit_b16.py:smoke', '--mode=aot',
       '--topology=v4-8', *(f'--config.model.{k}={v}' for k, v in OVERRIDES.items())],
      capture_output=True, text=True, cwd=ROOT, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'topology=v4-8' in out.stdout and 'fits=True' in out.stdout


def test_unknown_topology_is_a_clear_error():
  with pytest.raises(errors.UserInputError, match='known:.*v5e-256'):
    aot.get_topology('v5e-7')


@pytest.mark.parametrize('max_units', [1, 7, 100, 333])
def test_find_max_batch_finds_the_boundary_in_few_compiles(max_units):
  # Linear memory (4 GiB fixed + 0.036 GiB per unit of 8 examples) in 16 GiB: the answer is
  # `max_units` units; 0 when even one unit is too much.
  hbm = 16 * 2**30
  per_unit = (hbm - 4 * 2**30) // max_units
  probes = []

  def total_bytes(batch):
    probes.append(batch)
    total = 4 * 2**30 + per_unit * (batch // 8)
    return total if total < 1.5 * hbm else None  # far over: the compiler gives up

  assert aot.find_max_batch(total_bytes, start=64, unit=8, hbm_bytes=hbm) == 8 * max_units
  assert len(probes) <= 6
  assert aot.find_max_batch(lambda batch: None, start=64, unit=8, hbm_bytes=hbm) == 0
