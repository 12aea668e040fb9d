"""Multi-host: 2 processes x 4 devices (jax.distributed on localhost, joined by the entry point from
JAX_COORDINATOR_ADDRESS/JAX_NUM_PROCESSES/JAX_PROCESS_ID) train exactly like 1 process x 8
devices, only process 0 writes logs, and checkpoints move between process counts and meshes."""
import json
import os
import socket
import subprocess
import sys

import pytest

from big_uni import errors, sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DP2_FSDP4 = {'data': 2, 'fsdp': 4}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _train(workdir, num_processes: int, mesh: dict, total_steps: int) -> list[str]:
  """One run of the real entry point on BERT's smoke config (Austen text; each process reads
  only its rows) in `num_processes` processes of 8 / num_processes CPU devices; their stdouts."""
  overrides = dict(total_steps=total_steps, log_every_steps=1, checkpoint_every_steps=2,
                   **{'optimizer.decay': 'constant', 'optimizer.warmup_steps': 0},
                   **{f'mesh.{axis}': mesh.get(axis, 1) for axis in ('data', 'fsdp', 'tensor')})
  # A constant learning rate: a run resumed with more total steps repeats the same first steps.
  command = [sys.executable, '-m', 'big_uni.main', '--config=configs/bert_base.py:smoke',
             f'--workdir={workdir}', *(f'--config.{k}={v}' for k, v in overrides.items())]
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': f'--xla_force_host_platform_device_count={8 // num_processes}'}
  if num_processes > 1:
    env.update(JAX_COORDINATOR_ADDRESS=f'localhost:{_free_port()}',
               JAX_NUM_PROCESSES=str(num_processes))
  procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**env, 'JAX_PROCESS_ID': str(i)})
           for i in range(num_processes)]
  outputs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  return [out for out, _ in outputs]


def _losses(workdir) -> dict[int, float]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  train_rows = [row for row in rows if 'loss' in row]
  steps = [row['step'] for row in train_rows]
  assert len(steps) == len(set(steps)), 'a step was logged twice: more than one process logs'
  return {row['step']: row['loss'] for row in train_rows}


@pytest.mark.slow
def test_two_processes_equal_one_and_checkpoints_cross_process_counts(tmp_path):
  one, two = tmp_path / 'one_process', tmp_path / 'two_processes'
  _train(one, 1, DP2_FSDP4, total_steps=4)
  outputs = _train(two, 2, DP2_FSDP4, total_steps=4)
  assert 'step 4/4' in outputs[0] and 'step' not in outputs[1]  # process 1 prints no progress
  losses_one, losses_two = _losses(one), _losses(two)
  assert sorted(losses_one) == [1, 2, 3, 4]
  for step, loss in losses_one.items():
    assert abs(loss - losses_two[step]) < 1e-6, step

  # Each run's step-4 checkpoint resumes in the other process count, on another mesh (a run
  # that started afresh would log steps 1-4 twice).
  _train(two, 1, {'fsdp': 4, 'tensor': 2}, total_steps=6)
  _train(one, 2, {'fsdp': 8}, total_steps=6)
  resumed_one, resumed_two = _losses(one), _losses(two)
  for step in (5, 6):
    assert abs(resumed_one[step] - resumed_two[step]) < 1e-5, step


def test_coordinator_without_process_count_is_a_clear_error(monkeypatch):
  monkeypatch.setenv('JAX_COORDINATOR_ADDRESS', 'localhost:1234')
  monkeypatch.delenv('JAX_NUM_PROCESSES', raising=False)
  with pytest.raises(errors.UserInputError, match='JAX_NUM_PROCESSES and JAX_PROCESS_ID'):
    sharding.initialize_distributed()
