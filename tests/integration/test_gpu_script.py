"""benchmarks/gpu.sh, run here on tiny configs as a lent GPU machine would run it: without
TensorFlow, TFDS, gcsfs, array_record or clu (a sitecustomize refuses to import them)."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import import_or_skip
from tests.helpers.script_json import ROOT

_ABSENT_ON_GPU_MACHINES = ('tensorflow', 'tensorflow_datasets', 'gcsfs', 'array_record', 'clu')

# Imports of those fail and importlib.util.find_spec says they are absent (torch asks it).
_BLOCKER = '''
import importlib.abc, importlib.util, sys
_ABSENT = {absent!r}
class _Absent(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split('.')[0] in _ABSENT:
      raise ModuleNotFoundError(f'{{name}} is not installed on the GPU machines', name=name)
sys.meta_path.insert(0, _Absent())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split('.')[0] in _ABSENT else _find_spec(name, package))
'''


def _run_gpu_script(tmp_path, absent, results, **env):
  """gpu.sh with the modules `absent` blocked, PYTHON set to this interpreter, and a `python3`
  first on PATH that fails: the script must run the interpreter it is given (a venv's python
  runs the tests without the venv being activated)."""
  (tmp_path / 'sitecustomize.py').write_text(_BLOCKER.format(absent=absent))
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  (bin_dir / 'python3').write_text('#!/bin/sh\necho "python3 from PATH, not $PYTHON" >&2\nexit 3\n')
  (bin_dir / 'python3').chmod(0o755)
  env = {**os.environ, 'PYTHONPATH': str(tmp_path), 'PYTHON': sys.executable,
         'PATH': f'{bin_dir}:{os.environ["PATH"]}', **env}
  return subprocess.run(['bash', os.path.join(ROOT, 'benchmarks', 'gpu.sh'), str(results)],
                        capture_output=True, text=True, env=env, check=False)


@pytest.mark.slow  # Two smoke benchmarks next to their PyTorch peers: 126 s on 2 busy cores.
def test_gpu_script_runs_without_the_packages_gpu_machines_lack(tmp_path):
  import_or_skip('transformers')
  results = tmp_path / 'results.jsonl'
  out = _run_gpu_script(tmp_path, _ABSENT_ON_GPU_MACHINES, results, STEPS='2',
                        RUNS='configs/vit_ti16.py:smoke 4\nconfigs/bert_base.py:smoke 4')
  assert out.returncode == 0, out.stderr[-3000:]
  assert '3 skipped' in out.stdout  # The cuDNN checks: no GPU here.
  rows = [json.loads(line) for line in results.read_text().splitlines()]
  assert [r['config'] for r in rows] == ['configs/vit_ti16.py:smoke', 'configs/bert_base.py:smoke']
  assert all(r['peer_step_time_s'] > 0 and r['ratio'] > 0 for r in rows)


def test_gpu_script_without_ml_collections_or_its_wheel_says_how_to_get_it(tmp_path):
  wheels = os.path.join(ROOT, '.whl')
  if os.path.isdir(wheels) and any(name.endswith('.whl') for name in os.listdir(wheels)):
    pytest.skip('.whl/ holds wheels here: the script would install them')
  out = _run_gpu_script(tmp_path, (*_ABSENT_ON_GPU_MACHINES, 'ml_collections'),
                        tmp_path / 'results.jsonl')
  assert out.returncode == 1
  assert 'run bash benchmarks/fetch_wheels.sh' in out.stderr
