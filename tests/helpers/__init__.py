"""Helpers the tests share: the skip rules here; the modules beside this file; and, in scripts/,
the files that tests run as processes (`python tests/helpers/scripts/NAME.py`) or pass as
config files.

  script_json      runs a script or module in a fresh process, returns its last JSON line
  synthetic_steps  a few train steps of a config on its task's synthetic batches
  generated_tfds   real TFDS builders prepared offline from generated examples
  convert          random HF models, reference implementations of the weight-conversion tests
  reliability_runs real `python -m big_uni.main` runs, killed and rerun (reliability, gs://)
  faults           what the fault tests check, and the processes they run
  corpora          made-up text_files: corpora
  imported_clip    a random HF CLIP, its zero-shot config, and transformers' own zero-shot top-1
"""
import glob
import importlib
import os

import pytest

CI = os.environ.get('CI', '').lower() in ('1', 'true')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Every config file's name (configs/<name>.py), the shared bases (common*.py) aside.
CONFIG_NAMES = sorted(os.path.basename(p)[:-3]
                      for p in glob.glob(os.path.join(ROOT, 'configs', '*.py'))
                      if not os.path.basename(p).startswith(('_', 'common')))


def requires(available: bool, install_hint: str):
  """Skip when optional data is missing on a user's machine; under CI=true the test runs (and
  fails if the data really is missing), because CI installs everything."""
  return pytest.mark.skipif(not available and not CI, reason=install_hint)


def import_or_skip(module: str):
  """`module`, which the test extra installs (pip install -e '.[test]'): a user's machine without
  it skips the test module with that hint; under CI=true its absence fails, never skips."""
  if CI:
    return importlib.import_module(module)
  return pytest.importorskip(module, reason=f"{module} comes with pip install -e '.[test]'")

