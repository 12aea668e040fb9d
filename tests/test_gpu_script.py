"""benchmarks/gpu.sh, run here on tiny configs as a lent GPU machine would run it: without
TensorFlow, TFDS, gcsfs, array_record or clu (a sitecustomize refuses to import them)."""
import json
import os
import subprocess

from tests.conftest import import_or_skip
from tests.script_json import ROOT

_ABSENT_ON_GPU_MACHINES = ('tensorflow', 'tensorflow_datasets', 'gcsfs', 'array_record', 'clu')

# Imports of those fail and importlib.util.find_spec says they are absent (torch asks it).
_BLOCKER = f'''
import importlib.abc, importlib.util, sys
_ABSENT = {_ABSENT_ON_GPU_MACHINES!r}
class _Absent(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split('.')[0] in _ABSENT:
      raise ModuleNotFoundError(f'{{name}} is not installed on the GPU machines', name=name)
sys.meta_path.insert(0, _Absent())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split('.')[0] in _ABSENT else _find_spec(name, package))
'''


def test_gpu_script_runs_without_the_packages_gpu_machines_lack(tmp_path):
  import_or_skip('transformers')
  (tmp_path / 'sitecustomize.py').write_text(_BLOCKER)
  results = tmp_path / 'results.jsonl'
  env = {**os.environ, 'PYTHONPATH': str(tmp_path), 'STEPS': '2',
         'RUNS': 'configs/vit_ti16.py:smoke 4\nconfigs/bert_base.py:smoke 4'}
  out = subprocess.run(['bash', os.path.join(ROOT, 'benchmarks', 'gpu.sh'), str(results)],
                       capture_output=True, text=True, env=env, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert '3 skipped' in out.stdout  # The cuDNN checks: no GPU here.
  rows = [json.loads(line) for line in results.read_text().splitlines()]
  assert [r['config'] for r in rows] == ['configs/vit_ti16.py:smoke', 'configs/bert_base.py:smoke']
  assert all(r['peer_step_time_s'] > 0 and r['ratio'] > 0 for r in rows)
