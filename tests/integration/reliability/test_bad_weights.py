"""Bad weights: files that hold a pickle which would run code as it loads, given to every loader
a run can be pointed at (a real process): a big_uni checkpoint, safetensors, ONNX, a PyTorch
.pth, a sentencepiece model. Each is refused with one `error:` line naming the file, the code
never runs, and the run writes nothing; no code path unpickles (a scan of the source)."""
import os
import pickle
import re
import textwrap

import pytest

from tests.helpers import faults
from tests.helpers import reliability_runs as runs


class _RunsCode:
  """Unpickling this creates the file `path`: proof that a loader ran the payload."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (self.path, 'w'))


def _payload(tmp_path) -> bytes:
  return pickle.dumps(_RunsCode(str(tmp_path / 'payload_ran')))


def _config_file(tmp_path, module: str, body: str) -> str:
  path = tmp_path / 'config_with_bad_weights.py'
  path.write_text(f'import ml_collections\n\nfrom configs import {module}\n\n\n'
                  f"def get_config():\n  config = {module}.get_config('smoke')\n"
                  + textwrap.indent(textwrap.dedent(body), '  ') + '  return config\n')
  return str(path)


def _init(kind: str, path: str) -> str:
  return (f"config.init = ml_collections.ConfigDict({{'weights': dict(kind={kind!r}, "
          f'path={path!r})}})\n')


CASES = {
    # (config module, config body with {path}, file name, pattern of the error line)
    'a .pth with a pickle': (
        'vit_mnist5k', "config.init = ml_collections.ConfigDict({{'weights': dict("
                       "kind='timm_vit', path='{path}')}})\n", 'model.pth',
        r'model.pth holds pickled objects other than tensors, which could run code as they '
        r'load: big_uni does not load it'),
    'safetensors that are a pickle': (
        'bert_austen', "config.init = ml_collections.ConfigDict({{'weights': dict("
                       "kind='hf_bert', path='{path}')}})\n", 'model.safetensors',
        r'model.safetensors is not a readable .safetensors file'),
    'ONNX that is a pickle': (
        'vit_mnist5k', "config.init = ml_collections.ConfigDict({{'weights': dict("
                       "kind='dinov2', path='{path}')}})\n", 'model.onnx', r'model.onnx is not an ONNX model'),
    'a sentencepiece model that is a pickle': (
        'bert_austen', "config.input.tokenizer.path = '{path}'\n", 'spm.model',
        r'spm.model is not a sentencepiece .model file'),
}


@pytest.mark.parametrize('case', CASES)
def test_a_weights_file_that_is_a_pickle(tmp_path, case):
  module, body, name, pattern = CASES[case]
  (tmp_path / name).write_bytes(_payload(tmp_path))
  config = _config_file(tmp_path, module, body.format(path=tmp_path / name))
  workdir = tmp_path / 'run'
  faults.assert_refused_untouched(faults.main(workdir, config), pattern, workdir, {})
  assert not (tmp_path / 'payload_ran').exists()


@pytest.mark.slow  # 24 s, two runs; the pickled weights files stay in the README's suite.
def test_a_checkpoint_whose_files_are_a_pickle(tmp_path, stopped_vit_dir):
  """As a run's own checkpoint and as a `kind='checkpoint'` init entry."""
  payload = _payload(tmp_path)
  poisoned = faults.copy(stopped_vit_dir, tmp_path / 'poisoned')
  for step in (5, 10):
    step_dir = poisoned / 'checkpoints' / str(step)
    for path in [step_dir / 'state' / '_METADATA', step_dir / 'state' / 'manifest.ocdbt',
                 *(step_dir / 'checksums').iterdir()]:
      path.write_bytes(payload)
  before = faults.files(poisoned)
  faults.assert_refused_untouched(faults.main(poisoned, *faults.VIT),
                                  r'no checkpoint .* reads back intact', poisoned, before)
  config = _config_file(tmp_path, 'vit_mnist5k', _init('checkpoint', str(poisoned)))
  workdir = tmp_path / 'run'
  faults.assert_refused_untouched(faults.main(workdir, config),
                                  r'the init checkpoint .*/poisoned/checkpoints/10 is unreadable',
                                  workdir, {})
  assert not (tmp_path / 'payload_ran').exists()


def test_no_pickle_loading_anywhere():
  """Checkpoints are orbax (JSON + TensorStore), weights safetensors/ONNX/npz, data TFDS/text:
  no code path may unpickle (pickle, joblib, torch.load unless weights_only=True, np.load
  unless allow_pickle=False)."""
  banned = re.compile(r'\bimport (c?pickle|dill|joblib|cloudpickle)\b|pickle\.loads?\(|'
                      r'allow_pickle\s*=\s*True|weights_only\s*=\s*False|read_pickle\(|'
                      r'torch\.load\((?!.*weights_only=True)')
  offenders = []
  for package in ('big_uni', 'input_pipeline', 'configs'):
    for folder, _, names in os.walk(os.path.join(runs.ROOT, package)):
      for name in (n for n in names if n.endswith('.py')):
        path = os.path.join(folder, name)
        with open(path) as f:
          offenders += [f'{path}: {line.strip()}' for line in f
                        if banned.search(line) or ('np.load(' in line
                                                   and 'allow_pickle=False' not in line)]
  assert not offenders
