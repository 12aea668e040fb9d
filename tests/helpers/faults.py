"""What the fault tests check, and the real processes they run.

A fault ends well in one of two ways: (1) the run stops with one line `error: ...` naming the
cause and no traceback, before it changed anything in the workdir (every file is compared, byte
for byte, with its state before the bad run); or (2) the run is interrupted, and the same command
run again ends with the uninterrupted run's final params (bit for bit) and metrics.jsonl rows
(timing columns aside). (1) leaves a workdir that (2) has tested: rerunning it with the fault
fixed is the resume of a stopped run (test_kills.py).
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys

from tests.helpers import reliability_runs as runs

INJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scripts', 'inject.py')
VIT = runs.VIT
VIT_EVALS = ('tests/helpers/scripts/vit_with_evals.py',)


def main(workdir, *args, **env) -> subprocess.CompletedProcess:
  """`python -m big_uni.main --config=ARGS[0] --workdir=WORKDIR ARGS[1:]`."""
  return runs.run(runs.command(workdir, *args), **env)


def inject(fault: str, step: int, workdir, *args) -> subprocess.CompletedProcess:
  """The same command with `fault` (inject.py) striking at `step`."""
  return runs.run([sys.executable, INJECT, fault, str(step), '--',
                   *runs.command(workdir, *args)[3:]])


def copy(source, destination):
  shutil.copytree(source, destination, symlinks=True)
  return destination


def files(workdir) -> dict[str, str]:
  """{path relative to workdir: sha256 of its bytes} of every file under `workdir`."""
  digests = {}
  for folder, _, names in os.walk(workdir):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, 'rb') as f:
        digests[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
  return digests


def assert_one_line_error(out: subprocess.CompletedProcess, pattern: str) -> str:
  """Exit status 1, no traceback, and stderr's only `error:` line, its last, matches `pattern`
  (re.search); returns that line."""
  assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-3000:]
  assert 'Traceback' not in out.stderr, out.stderr[-3000:]
  lines = out.stderr.strip().splitlines()
  errors = [line for line in lines if line.startswith('error:')]
  assert len(errors) == 1 and errors[0] == lines[-1], out.stderr[-3000:]
  assert re.search(pattern, errors[0]), errors[0]
  return errors[0]


def assert_refused_untouched(out: subprocess.CompletedProcess, pattern: str, workdir,
                             before: dict[str, str]) -> str:
  """assert_one_line_error, and every file of `workdir` is as `before` (files(workdir) taken
  before the run): nothing written, nothing lost."""
  message = assert_one_line_error(out, pattern)
  assert files(workdir) == before
  return message


def assert_nothing_lost(workdir, before: dict[str, str]):
  """Every file of `before` is still there with its content, and the only new file is the
  TensorBoard event file a run opens as it starts training."""
  after = files(workdir)
  assert {path: after.get(path) for path in before} == before
  assert all(os.path.basename(path).startswith('events.out.tfevents.')
             for path in set(after) - set(before)), sorted(set(after) - set(before))


def assert_finished_as(straight_dir, workdir):
  """The rerun's final params and metrics rows are the uninterrupted run's."""
  runs.assert_same_params(runs.final_params(straight_dir), runs.final_params(workdir))
  runs.assert_same_metrics(runs.metric_rows(straight_dir), runs.metric_rows(workdir))


def rerun(workdir, *args) -> subprocess.CompletedProcess:
  """The interrupted command again, without the fault: it must finish."""
  out = main(workdir, *args)
  assert out.returncode == 0, out.stderr[-3000:]
  return out
