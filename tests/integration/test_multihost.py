"""Multi-host: 2 processes x 4 devices (jax.distributed on localhost, joined by the entry point from
JAX_COORDINATOR_ADDRESS/JAX_NUM_PROCESSES/JAX_PROCESS_ID) train exactly like 1 process x 8
devices, only process 0 writes logs, checkpoints move between process counts and meshes, and
pretrained weights (MiniLM, a big_uni checkpoint) load into params sharded over both processes."""
import json
import os
import socket
import subprocess
import sys

import pytest

from big_uni import errors, sharding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DP2_FSDP4 = {'data': 2, 'fsdp': 4}
# FSDP across the processes: each holds only its shards of every param it loads.
FSDP8, FSDP4_TP2 = {'fsdp': 8}, {'fsdp': 4, 'tensor': 2}
# Fine-tuning from the real MiniLM weights, at a test's size: 32 tweets, evaluated on themselves.
MINILM = {'input.batch_size': 8, 'input.eval_batch_size': 16, 'input.max_seq_len': 32,
          'input.num_train_examples': 32, 'input.eval_split': 'train', 'model.scan_layers': True}
# The second phase of configs/bert_austen.py (initialised from a checkpoint) in the shapes of
# bert_base.py:smoke, so it starts from that smoke run's checkpoint.
SMOKE_PHASE2 = {'evals.task.every_steps': 0, 'model.width': 32, 'model.depth': 2, 'model.mlp_dim': 64,
                'model.vocab_size': 1000, 'model.max_len': 64, 'model.norm_first': False,
                'input.dataset': 'python_help', 'input.max_seq_len': 32,
                'input.max_predictions': 5, 'input.batch_size': 8, 'input.eval_batch_size': 16,
                'input.tokenizer.train_corpus': 'python_help', 'input.tokenizer.vocab_size': 1000}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _train(workdir, num_processes: int, mesh: dict, total_steps: int,
           config: str = 'configs/bert_base.py:smoke', **config_overrides) -> list[tuple[str, str]]:
  """One run of the real entry point (by default BERT's smoke config; each process reads only
  its rows) in `num_processes` processes of 8 / num_processes CPU devices; their (stdout,
  stderr)."""
  overrides = dict(total_steps=total_steps, log_every_steps=1, checkpoint_every_steps=2,
                   **{'optimizer.decay': 'constant', 'optimizer.warmup_steps': 0},
                   **{f'mesh.{axis}': mesh.get(axis, 1) for axis in ('data', 'fsdp', 'tensor')},
                   **config_overrides)
  # A constant learning rate: a run resumed with more total steps repeats the same first steps.
  command = [sys.executable, '-m', 'big_uni.main', f'--config={config}',
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
  return outputs


def _losses(workdir, metric: str = 'loss') -> dict[int, float]:
  """{step: `metric`} of the train rows of metrics.jsonl."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  train_rows = [row for row in rows if 'loss' in row]
  steps = [row['step'] for row in train_rows]
  assert len(steps) == len(set(steps)), 'a step was logged twice: more than one process logs'
  return {row['step']: row[metric] for row in train_rows}


def _assert_same_train_metrics(one, two, tolerance: float):
  for metric in ('loss', 'grad_norm'):
    expected, actual = _losses(one, metric), _losses(two, metric)
    assert sorted(expected) == sorted(actual)
    for step, value in expected.items():
      assert abs(value - actual[step]) < tolerance, (metric, step)


@pytest.mark.slow
def test_two_processes_equal_one_and_checkpoints_cross_process_counts(tmp_path):
  one, two = tmp_path / 'one_process', tmp_path / 'two_processes'
  _train(one, 1, DP2_FSDP4, total_steps=4)
  (out0, _), (out1, _) = _train(two, 2, DP2_FSDP4, total_steps=4)
  assert 'step 4/4' in out0 and 'step' not in out1  # process 1 prints no progress
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

  # A second phase initialised from that big_uni checkpoint, on FSDP x tensor across processes.
  phase2 = dict(SMOKE_PHASE2, **{'init.bert.path': str(one)})
  for name, processes in (('phase2_one', 1), ('phase2_two', 2)):
    (_, err), *_ = _train(tmp_path / name, processes, FSDP4_TP2, 2,
                          'configs/bert_austen.py:phase=2', **phase2)
    assert 'init bert (checkpoint): 0 params left initialised' in err
  _assert_same_train_metrics(tmp_path / 'phase2_one', tmp_path / 'phase2_two', 1e-6)


@pytest.mark.slow
def test_fine_tuning_from_minilm_on_two_processes_equals_one(tmp_path):
  for name, processes in (('one', 1), ('two', 2)):
    (_, err), *_ = _train(tmp_path / name, processes, FSDP8, 2,
                          'configs/bert_classify.py:task=tweets,init=minilm,features=false', **MINILM)
    # All of MiniLM loads; the classification head is new.
    assert 'init bert (hf_bert): 2 params left initialised: head/bias, head/kernel' in err
  _assert_same_train_metrics(tmp_path / 'one', tmp_path / 'two', 1e-6)


def test_coordinator_without_process_count_is_a_clear_error(monkeypatch):
  monkeypatch.setenv('JAX_COORDINATOR_ADDRESS', 'localhost:1234')
  monkeypatch.delenv('JAX_NUM_PROCESSES', raising=False)
  with pytest.raises(errors.UserInputError, match='JAX_NUM_PROCESSES and JAX_PROCESS_ID'):
    sharding.initialize_distributed()
