"""Soak: a 2,000-step run SIGKILLed at random moments (mid-step, mid-save) and rerun each time
ends with the params of a clean run, bit for bit. About 10 minutes on a 2-core CPU:

  python -m pytest -q -s -m slow tests/test_reliability_soak.py

SOAK_SEED=<int> replays one sequence of kill times (the seed is printed).
"""
import os
import random
import signal
import time

import pytest

import reliability_runs as runs

SOAK = ('configs/vit_mnist5k.py:smoke', '--config.total_steps=2000',
        '--config.checkpoint_every_steps=50', '--config.log_every_steps=50',
        '--config.model.dropout=0.1', '--config.model.drop_path=0.1')
KILLS = 8  # Then the run is left to finish.
MAX_ATTEMPTS = 30  # The loop is bounded whatever happens.


@pytest.mark.slow
def test_random_sigkills_during_2000_steps_end_with_the_clean_params(tmp_path):
  seed = int(os.environ.get('SOAK_SEED', time.time_ns() % 2**31))
  rng = random.Random(seed)
  clean = runs.run(runs.command(tmp_path / 'clean', *SOAK), timeout=1800)
  assert clean.returncode == 0, clean.stderr[-3000:]

  workdir = tmp_path / 'killed'
  cmd = runs.command(workdir, *SOAK)
  kills, resumed_at = 0, []
  for attempt in range(MAX_ATTEMPTS):
    if kills == KILLS:
      break
    process = runs.start(cmd, tmp_path / f'attempt{attempt}.log')
    latest = (runs.committed_steps(workdir) or [0])[-1]
    # Somewhere after the next checkpoint: mid-step or mid-save, before the last checkpoint.
    if runs.wait_for_checkpoint_after(process, workdir, latest):
      time.sleep(rng.uniform(0.0, 2.0))
    if process.poll() is not None or runs.committed_steps(workdir)[-1] == 2000:
      process.wait(timeout=600)  # Left to finish: a kill after the last checkpoint tests nothing.
      break
    assert runs.kill(process) == -signal.SIGKILL
    kills += 1
    resumed_at.append(runs.committed_steps(workdir)[-1])
  final = runs.run(cmd, timeout=1800)
  assert final.returncode == 0, final.stderr[-3000:]
  print(f'soak seed {seed}: {kills} SIGKILLs survived, newest checkpoint at each kill: '
        f'{resumed_at}')
  assert kills >= 5
  runs.assert_same_params(runs.final_params(tmp_path / 'clean'), runs.final_params(workdir))
