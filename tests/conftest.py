"""Set-up for every pytest process, before any test module imports JAX (the helpers that tests
import are in tests/helpers/)."""
import atexit
import os
import shutil
import tempfile

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
