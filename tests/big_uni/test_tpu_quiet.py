"""libtpu, installed by the test and tpu_aot extras for ahead-of-time TPU compiles, says nothing
on a host without TPU chips (big_uni/__init__.py); tests/integration/test_aot.py compiles with
it."""
import importlib.util
import os
import subprocess
import sys

import pytest

import big_uni
from tests.helpers import requires
from tests.helpers.script_json import ROOT

_TPU_START_UP_MESSAGES = ('TPU accelerator type', 'TPU worker hostnames', 'jellyfish',
                          "backend 'tpu'")

needs_host_without_tpus = pytest.mark.skipif(
    big_uni._has_tpu_chips(),  # pylint: disable=protected-access
    reason='a TPU host: libtpu has TPUs to start')


@needs_host_without_tpus
@requires(importlib.util.find_spec('libtpu') is not None,
          "libtpu is not installed: pip install -e '.[tpu_aot]'")
def test_a_command_prints_no_tpu_start_up_messages():
  env = {name: value for name, value in os.environ.items()
         if not name.startswith(('TPU_', 'JAX_PLATFORMS'))}
  # libtpu is silent when another process holds /tmp/libtpu_lockfile (a training run that
  # started a TPU backend): without the lock, this test cannot pass by that chance.
  env['ALLOW_MULTIPLE_LIBTPU_LOAD'] = '1'
  out = subprocess.run(
      [sys.executable, '-m', 'big_uni.main', '--config=configs/vit_ti16.py:smoke',
       '--mode=shapes', '--verbosity=0'],  # absl INFO on: JAX logs a failed backend there.
      capture_output=True, text=True, cwd=ROOT, env=env, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  printed = [message for message in _TPU_START_UP_MESSAGES if message in out.stderr]
  assert not printed, out.stderr[-2000:]


@needs_host_without_tpus
def test_jax_platforms_are_left_to_jax_where_a_gpu_plugin_is_installed(monkeypatch):
  installed = ('libtpu', 'jax_plugins')  # jax_plugins: a GPU plugin's namespace package
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, package=None: object() if name in installed else None)
  environ = {}
  big_uni._quiet_libtpu_without_tpus(environ)  # pylint: disable=protected-access
  assert environ == {'TPU_WORKER_HOSTNAMES': 'localhost'}
  environ = {'JAX_PLATFORMS': 'tpu,cpu'}  # The user's choice stands.
  monkeypatch.setattr(big_uni, '_has_other_jax_plugins', lambda: False)
  big_uni._quiet_libtpu_without_tpus(environ)  # pylint: disable=protected-access
  assert environ == {'JAX_PLATFORMS': 'tpu,cpu', 'TPU_WORKER_HOSTNAMES': 'localhost'}
