"""Helpers of the reliability tests: real `python -m big_uni.main` runs, killed and rerun."""
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import ml_collections
import numpy as np

from big_uni import paths, pretrained

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# ViT smoke on sklearn digits through the real tf.data pipeline, with dropout and stochastic
# depth so that the dropout key matters too.
VIT = ('configs/vit_mnist5k.py:smoke', '--config.total_steps=20',
       '--config.checkpoint_every_steps=5', '--config.log_every_steps=5',
       '--config.model.dropout=0.1', '--config.model.drop_path=0.1')
# Metrics that depend on the machine's speed, not on the run's arithmetic.
TIMING_METRICS = ('steps_per_sec', 'examples_per_sec', 'tokens_per_sec',
                  'tflops_per_sec_per_device', 'mfu')


def shared_dir(tmp_path_factory, name: str, produce):
  """A directory that `produce(path)` fills once per test session, also when pytest-xdist
  workers share the tests (they share the parent of their base temporary directories)."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = root.parent
  path = root / name
  with open(root / f'{name}.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (path / 'DONE').exists():
      shutil.rmtree(path, ignore_errors=True)
      path.mkdir()
      produce(path)
      (path / 'DONE').touch()
  return path


def command(workdir, config: str, *overrides: str) -> list[str]:
  return [sys.executable, '-m', 'big_uni.main', f'--config={config}', f'--workdir={workdir}',
          *overrides]


def environment(**extra) -> dict:
  return {**os.environ, 'PYTHONPATH': ROOT, **extra}


def run(cmd: list[str], timeout: int = 600, **extra_env) -> subprocess.CompletedProcess:
  return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                        env=environment(**extra_env))


def start(cmd: list[str], log_path) -> subprocess.Popen:
  """Runs in the background; stdout and stderr go to `log_path` (a pipe could fill up)."""
  with open(log_path, 'w') as log:
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            env=environment())


def committed_steps(workdir) -> list[int]:
  """Steps of the complete checkpoints: orbax renames a local one into place, and marks a gs://
  one with a commit file."""
  directory = paths.resolve(workdir) / 'checkpoints'
  if not directory.is_dir():
    return []
  steps = [path for path in directory.iterdir() if path.name.isdigit()]
  if paths.is_remote(workdir):
    steps = [path for path in steps if (path / 'commit_success.txt').exists()]
  return sorted(int(path.name) for path in steps)


def wait_for_checkpoint_after(process: subprocess.Popen, workdir, step: int,
                              timeout: float = 600, poll_s: float = 0.01) -> bool:
  """Polls until a checkpoint newer than `step` is committed; False if the process ended first."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if any(s > step for s in committed_steps(workdir)):
      return True
    if process.poll() is not None:
      return False
    time.sleep(poll_s)
  raise TimeoutError(f'no checkpoint after step {step} in {workdir} within {timeout} s')


def kill(process: subprocess.Popen, signum=signal.SIGKILL) -> int:
  process.send_signal(signum)
  return process.wait(timeout=600)


def resumed_from(output: str) -> int:
  """The first step of a (resumed) run, from its 'steps <first> -> <total>' line."""
  return int(re.search(r'steps (\d+) -> \d+', output)[1])


def final_params(workdir) -> dict:
  """The newest checkpoint's params as numpy arrays, read the way config.init reads them."""
  source = ml_collections.ConfigDict(dict(kind='checkpoint', path=str(workdir)))
  return pretrained.load_source(source, None)


def assert_same_params(expected: dict, actual: dict):
  """Bitwise: every array equal, not merely close."""
  jax.tree.map(np.testing.assert_array_equal, expected, actual)


def metric_rows(workdir) -> list[dict]:
  """metrics.jsonl without the timing metrics."""
  lines = (paths.resolve(workdir) / 'metrics.jsonl').read_text().splitlines()
  rows = [json.loads(line) for line in lines]
  return [{k: v for k, v in row.items() if k not in TIMING_METRICS} for row in rows]


def assert_same_metrics(expected: list[dict], actual: list[dict]):
  """Each (step, metric) once, and every row equal to the uninterrupted run's."""
  logged = [(row['step'], key) for row in actual for key in row if key != 'step']
  assert len(logged) == len(set(logged)), sorted(logged)
  assert actual == expected
