"""Shared test helpers."""
import atexit
import importlib
import os
import shutil
import tempfile

import pytest

# Before any test module imports JAX: on a host with libtpu but no TPU chips, big_uni keeps JAX
# to the CPU (big_uni/__init__.py); a TPU backend started there breaks jax.profiler traces.
import big_uni  # pylint: disable=unused-import


def _private_compilation_cache() -> None:
  """Tests build the same tiny programs again and again, in this process and in the CLI runs,
  notebook kernels and workers they start (which inherit the variable). JAX's persistent
  compilation cache keys a program by its HLO, flags and devices, so each is compiled once per
  pytest process (test_configs and tests/tasks: 163 s -> 119 s with -n 2; a smoke run 15.1 s ->
  11.5 s). Compilation is deterministic, so a cached program computes what a fresh compile
  would: the bitwise resume tests hold either way. A fresh directory per pytest process (the
  xdist controller and each worker) means no two of them write one cache, and no state from an
  earlier session. Set here, before any test module imports JAX (which reads it then)."""
  directory = tempfile.mkdtemp(prefix='big_uni_test_jax_cache_')
  atexit.register(shutil.rmtree, directory, ignore_errors=True)
  os.environ['JAX_COMPILATION_CACHE_DIR'] = directory


_private_compilation_cache()

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

