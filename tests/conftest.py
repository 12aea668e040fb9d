"""Shared test helpers."""
import importlib
import os

import pytest

# Before any test module imports JAX: on a host with libtpu but no TPU chips, big_uni keeps JAX
# to the CPU (big_uni/__init__.py); a TPU backend started there breaks jax.profiler traces.
import big_uni  # pylint: disable=unused-import

CI = os.environ.get('CI', '').lower() in ('1', 'true')


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


@pytest.fixture(scope='session', autouse=True)
def _compilation_cache_for_child_processes(tmp_path_factory):
  """The CLI runs, notebook kernels and worker processes that tests start compile the same tiny
  programs again and again (a smoke run: 15 s, 11.5 s with the cache): they share JAX's
  persistent compilation cache, one per pytest worker. This process keeps compiling for itself
  (its JAX read the environment when the test modules were imported). Compilation is
  deterministic, so a cached program computes what a fresh compile would: the bitwise resume
  tests hold either way."""
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    os.environ['JAX_COMPILATION_CACHE_DIR'] = str(tmp_path_factory.mktemp('jax_cache'))
