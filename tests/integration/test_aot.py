"""TPU ahead-of-time compilation (`--mode=aot`) on this CPU machine, with libtpu."""
import importlib.util
import os
import subprocess
import sys

import pytest

from big_uni import aot, errors, shapes, train
from configs import vit_b16
from tests.helpers import requires

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


@pytest.mark.slow  # 23 s; the CLI test above compiles for a topology in the README's suite.
@needs_libtpu
def test_table_compiles_config_variants_in_child_processes():
  out = subprocess.run(
      [sys.executable, '-m', 'benchmarks.aot_table', '--configs=vit_b16:smoke,bert_base:smoke',
       '--topologies=v4-8', '--find_max_batch=False'],
      capture_output=True, text=True, cwd=ROOT, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  rows = [line for line in out.stdout.splitlines() if line.startswith('| ') and 'v4-8' in line]
  assert [row.split(' | ')[:2] for row in rows] == [['| vit_b16:smoke', 'v4-8'],
                                                     ['| bert_base:smoke', 'v4-8']]
  assert all(row.endswith('| yes | - |') for row in rows), rows
  assert out.stdout.count('topology=v4-8') == 2  # The children's figures reach the output.


def test_unknown_topology_is_a_clear_error():
  with pytest.raises(errors.UserInputError, match='known:.*v5e-256'):
    aot.get_topology('v5e-7')


@pytest.mark.parametrize('max_units', [1, 7, 92, 333])
@pytest.mark.parametrize('says_usable', [True, False])
def test_find_max_batch_finds_the_boundary_in_few_compiles(max_units, says_usable):
  # Linear memory, 4 GiB + a share per unit of 8 examples, and 15.75 of the 16 GiB usable (as
  # on v5e); the compiler's out-of-memory message may or may not give the bytes.
  hbm, usable = 16 * 2**30, int(15.75 * 2**30)
  per_unit = (usable - 4 * 2**30) // max_units
  probes = []

  def measure(batch):
    probes.append(batch)
    total = 4 * 2**30 + per_unit * (batch // 8)
    if total <= usable:
      return True, total, None
    return (False, total, usable) if says_usable else (False, None, None)

  assert aot.find_max_batch(measure, start=64, unit=8, hbm_bytes=hbm) == 8 * max_units
  assert len(probes) <= (5 if says_usable else 16), probes  # without figures: bisection
  assert aot.find_max_batch(lambda batch: (False, None, None), start=64, unit=8,
                            hbm_bytes=hbm) == 0


def test_out_of_memory_messages_give_needed_and_usable_bytes():
  message = ('RESOURCE_EXHAUSTED: E1000: CompileTimeHbmOom: Ran out of memory on HBM, the total '
             'memory required for HLO temporaries (15.99G) exceeds available HBM (15.75G).')
  assert aot._out_of_memory_bytes(message) == (int(15.99 * 2**30), int(15.75 * 2**30))
  assert aot._out_of_memory_bytes('Used 17.5G of 15.75G hbm') == (int(17.5 * 2**30),
                                                                   int(15.75 * 2**30))
  assert aot._out_of_memory_bytes('RESOURCE_EXHAUSTED: something else') == (None, None)
