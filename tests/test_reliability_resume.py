"""Exact resume after SIGKILL, SIGTERM (preemption) and crashes while saving; corrupt checkpoints.

Runs are real `python -m big_uni.main` processes, killed and rerun with the same command; their
final params must equal an uninterrupted run's bit for bit (CPU, float32), and after a SIGKILL
their metrics.jsonl too (each step once).
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import sys
import time

import pytest

import reliability_runs as runs
from tests.conftest import requires
from big_uni import checkpoint, errors, preemption, train
from big_uni.evaluators import runner
from configs import vit_mnist5k


@pytest.fixture(scope='session')
def straight_vit_dir(tmp_path_factory):
  """The workdir of the uninterrupted ViT run the interrupted ones must reproduce."""
  def produce(workdir):
    out = runs.run(runs.command(workdir, *runs.VIT))
    assert out.returncode == 0, out.stderr[-3000:]
  return runs.shared_dir(tmp_path_factory, 'straight_vit', produce)


@pytest.fixture(scope='session')
def straight_vit(straight_vit_dir):
  return runs.final_params(straight_vit_dir)


def _kill_after_first_checkpoint(cmd, workdir, signum):
  process = runs.start(cmd, workdir / 'killed.log')
  assert runs.wait_for_checkpoint_after(process, workdir / 'run', 0), 'finished before a kill'
  return runs.kill(process, signum), (workdir / 'killed.log').read_text()


def test_sigkill_then_same_command_equals_uninterrupted_vit(tmp_path, straight_vit,
                                                            straight_vit_dir):
  cmd = runs.command(tmp_path / 'run', *runs.VIT)
  returncode, _ = _kill_after_first_checkpoint(cmd, tmp_path, signal.SIGKILL)
  assert returncode == -signal.SIGKILL
  out = runs.run(cmd)
  assert out.returncode == 0, out.stderr[-3000:]
  assert 0 < runs.resumed_from(out.stdout) < 20
  runs.assert_same_params(straight_vit, runs.final_params(tmp_path / 'run'))
  runs.assert_same_metrics(runs.metric_rows(straight_vit_dir), runs.metric_rows(tmp_path / 'run'))


@pytest.mark.slow  # 235 s on 2 busy cores; ViT's kill and resume stays in the README's suite.
def test_sigkill_then_same_command_equals_uninterrupted_bert(tmp_path):
  """BERT's pipeline is index-based (batch s is a function of (seed, s)), with MLM masking and
  dropout drawn afresh at every step."""
  bert = ('configs/bert_austen.py:smoke', '--config.total_steps=20',
          '--config.checkpoint_every_steps=5', '--config.log_every_steps=5',
          '--config.model.dropout=0.1')
  straight = runs.run(runs.command(tmp_path / 'straight', *bert))
  assert straight.returncode == 0, straight.stderr[-3000:]
  cmd = runs.command(tmp_path / 'run', *bert)
  returncode, _ = _kill_after_first_checkpoint(cmd, tmp_path, signal.SIGKILL)
  assert returncode == -signal.SIGKILL
  out = runs.run(cmd)
  assert out.returncode == 0, out.stderr[-3000:]
  assert 0 < runs.resumed_from(out.stdout) < 20
  runs.assert_same_params(runs.final_params(tmp_path / 'straight'),
                          runs.final_params(tmp_path / 'run'))
  runs.assert_same_metrics(runs.metric_rows(tmp_path / 'straight'),
                           runs.metric_rows(tmp_path / 'run'))


def test_sigterm_checkpoints_exits_zero_and_resumes_exactly(tmp_path, straight_vit):
  cmd = runs.command(tmp_path / 'run', *runs.VIT)
  returncode, log = _kill_after_first_checkpoint(cmd, tmp_path, signal.SIGTERM)
  assert returncode == 0, log[-3000:]
  stop = int(log.split(': stopping on SIGTERM')[0].rsplit('step ', 1)[1])
  # The step it stopped at was saved, and the save was complete before the process exited.
  assert runs.committed_steps(tmp_path / 'run')[-1] == stop < 20
  out = runs.run(cmd)
  assert out.returncode == 0, out.stderr[-3000:]
  assert runs.resumed_from(out.stdout) == stop
  runs.assert_same_params(straight_vit, runs.final_params(tmp_path / 'run'))


def test_killed_while_saving_resumes_from_the_previous_checkpoint(tmp_path, straight_vit):
  """SIGKILL in the middle of the async save of step 10: its files are written but it is not
  committed. The rerun reports it, resumes from step 5 and still ends bit-identical."""
  cmd = runs.command(tmp_path / 'run', *runs.VIT)
  dies_while_saving = f'''
import os, runpy, signal, sys
from orbax.checkpoint._src.path import atomicity
finalize = atomicity.AtomicRenameTemporaryPath.finalize
async def finalize_or_die(self, *args, **kwargs):
  if '10.orbax-checkpoint-tmp' in str(self.get()):
    os.kill(os.getpid(), signal.SIGKILL)
  return await finalize(self, *args, **kwargs)
atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_die
sys.argv = {cmd[2:]!r}
runpy.run_module('big_uni.main', run_name='__main__')
'''
  died = runs.run([sys.executable, '-c', dies_while_saving])
  assert died.returncode == -signal.SIGKILL, died.stderr[-3000:]
  assert runs.committed_steps(tmp_path / 'run') == [5]
  assert glob.glob(str(tmp_path / 'run' / 'checkpoints' / '10.orbax-checkpoint-tmp*'))
  out = runs.run(cmd)
  assert out.returncode == 0, out.stderr[-3000:]
  assert '10.orbax-checkpoint-tmp is a checkpoint save that did not finish' in out.stderr
  assert runs.resumed_from(out.stdout) == 5
  runs.assert_same_params(straight_vit, runs.final_params(tmp_path / 'run'))


def _synthetic_config(**overrides):
  config = vit_mnist5k.get_config('smoke')
  config.input.update(dict(dataset='synthetic', eval_examples=128))
  config.update(overrides)
  return config


@pytest.fixture(scope='session')
def four_steps(tmp_path_factory):
  """A workdir with checkpoints at steps 2 and 4, and the params of a straight 6-step run."""
  def produce(path):
    train.train_and_evaluate(_synthetic_config(total_steps=4), str(path / 'four'))
    train.train_and_evaluate(_synthetic_config(total_steps=6), str(path / 'six'))
  path = runs.shared_dir(tmp_path_factory, 'four_steps', produce)
  return path / 'four', runs.final_params(path / 'six')


def _flip_a_byte_of_the_largest_array_file(step_dir):
  files = glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd', '*'))
  path = max(files, key=os.path.getsize)
  with open(path, 'r+b') as f:  # One bit: usually only the checksums notice (see below).
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)[0]
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte ^ 0x01]))


def _truncate_the_largest_array_file(step_dir):
  files = glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd', '*'))
  path = max(files, key=os.path.getsize)
  os.truncate(path, os.path.getsize(path) // 2)


def _change_one_stored_checksum(step_dir):
  path = os.path.join(step_dir, 'checksums', 'metadata')
  with open(path) as f:
    stored = json.load(f)
  key = next(k for k in stored if 'kernel' in k)
  stored[key] ^= 1
  with open(path, 'w') as f:
    json.dump(stored, f)


def _truncate_the_tree_metadata(step_dir):
  path = os.path.join(step_dir, 'state', '_METADATA')
  os.truncate(path, os.path.getsize(path) // 2)


@pytest.mark.parametrize('corrupt,why', [
    # The data file holds zstd frames: where the flipped bit lands in a frame header, decompression
    # fails before the checksums are compared (it happened once in a full run of the suite).
    (_flip_a_byte_of_the_largest_array_file, 'its arrays do not match their checksums|.*ZSTD'),
    (_change_one_stored_checksum, 'its arrays do not match their checksums'),
    (_truncate_the_largest_array_file, 'OUT_OF_RANGE'),
    (_truncate_the_tree_metadata, '')])
def test_corrupt_newest_checkpoint_resumes_from_the_newest_intact_one(tmp_path, four_steps,
                                                                       corrupt, why, capsys,
                                                                       caplog):
  source, straight = four_steps
  workdir = tmp_path / 'run'
  shutil.copytree(source, workdir)
  corrupt(str(workdir / 'checkpoints' / '4'))
  sigterm_handler = signal.getsignal(signal.SIGTERM)
  train.train_and_evaluate(_synthetic_config(total_steps=6), str(workdir))
  assert signal.getsignal(signal.SIGTERM) is sigterm_handler  # Restored after the run.
  assert 'steps 2 -> 6' in capsys.readouterr().out
  assert re.search(rf'the checkpoint at step 4 is unreadable \(({why})', caplog.text), caplog.text
  # Kept for inspection, out of orbax's way; the run wrote a new step 4 and went on.
  assert len(glob.glob(str(workdir / 'checkpoints' / '4.unreadable-*'))) == 1
  assert runs.committed_steps(workdir)[-1] == 6
  runs.assert_same_params(straight, runs.final_params(workdir))


def test_no_intact_checkpoint_stops_and_leaves_the_files_alone(tmp_path, four_steps):
  source, _ = four_steps
  shutil.copytree(source, tmp_path / 'run')
  for step in (2, 4):
    _truncate_the_largest_array_file(str(tmp_path / 'run' / 'checkpoints' / str(step)))
  trainer = train.Trainer(_synthetic_config())
  checkpointer = checkpoint.Checkpointer(str(tmp_path / 'run' / 'checkpoints'), every_steps=2,
                                         keep=3)
  with pytest.raises(errors.UserInputError, match='no checkpoint .* reads back intact: step 4'):
    checkpointer.restore(trainer.abstract_state)
  checkpointer.close()
  assert runs.committed_steps(tmp_path / 'run') == [2, 4]


def test_processes_agree_on_the_preemption_step(tmp_path):
  """Two jax.distributed processes; SIGTERM reaches only one. Both must stop after the same step
  (else one would wait forever in a collective for the other)."""
  code = '''
import sys, time
import jax
jax.distributed.initialize(coordinator_address=sys.argv[2], num_processes=2,
                           process_id=int(sys.argv[1]))
from big_uni import preemption
with preemption.Notice() as notice:
  print('ready', flush=True)
  for step in range(1, 100_000):
    time.sleep(0.01 * (1 + int(sys.argv[1])))  # The processes run at different speeds.
    if notice.reached(step):
      print('stop', step, flush=True)
      break
'''
  with socket.socket() as s:
    s.bind(('localhost', 0))
    address = f'localhost:{s.getsockname()[1]}'
  logs = [tmp_path / f'{i}.log' for i in range(2)]
  processes = [runs.start([sys.executable, '-c', code, str(i), address], logs[i])
               for i in range(2)]
  try:
    for log in logs:
      while 'ready' not in log.read_text():
        assert all(p.poll() is None for p in processes), log.read_text()[-2000:]
        time.sleep(0.05)
    processes[1].send_signal(signal.SIGTERM)
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
  stops = [log.read_text().split('stop ')[1].split()[0] for log in logs]
  assert stops[0] == stops[1]



def _evaluating_config():
  """Evaluations at steps 6 (the task's, a kNN entry) and 8 (all, the last step); logs every 2
  steps, checkpoints every 4."""
  config = _synthetic_config(total_steps=8, checkpoint_every_steps=4, log_every_steps=2)
  config.evals = {'task': dict(kind='task_metrics', every_steps=6),
                  'knn': dict(kind='knn', train_split='train', test_split='test', ks=(1, 3),
                              every_steps=6)}
  return config


@pytest.fixture(scope='session')
def evaluated_run(tmp_path_factory):
  """An uninterrupted run of _evaluating_config: (workdir, its returned metrics)."""
  returned = {}

  def produce(path):
    returned.update(train.train_and_evaluate(_evaluating_config(), str(path)))
    (path / 'returned.json').write_text(json.dumps(returned))
  path = runs.shared_dir(tmp_path_factory, 'evaluated_run', produce)
  return path, json.loads((path / 'returned.json').read_text())


@pytest.mark.parametrize('stop', [6, 8], ids=['eval_step', 'last_step'])
def test_preempted_at_an_evaluation_step_evaluates_on_rerun(tmp_path, monkeypatch, evaluated_run,
                                                            stop, capsys):
  """SIGTERM's notice at a step with evaluations due: the run saves and stops without them; the
  rerun runs them first from that checkpoint. Rows, params and returned metrics equal the
  uninterrupted run's; a rerun of the finished run writes nothing more and returns the same."""
  straight, returned = evaluated_run
  workdir = tmp_path / 'run'
  reached = preemption.Notice.reached
  monkeypatch.setattr(preemption.Notice, 'reached',
                      lambda self, step: step == stop or reached(self, step))
  train.train_and_evaluate(_evaluating_config(), str(workdir))
  assert 'stopping on SIGTERM' in capsys.readouterr().out
  assert not any(k.startswith(('test_', 'knn/')) for row in runs.metric_rows(workdir)
                 if row['step'] == stop for k in row)
  monkeypatch.setattr(preemption.Notice, 'reached', reached)
  assert train.train_and_evaluate(_evaluating_config(), str(workdir)) == returned
  assert 'running the evaluations metrics.jsonl lacks (task, knn)' in capsys.readouterr().out
  runs.assert_same_metrics(runs.metric_rows(straight), runs.metric_rows(workdir))
  runs.assert_same_params(runs.final_params(straight), runs.final_params(workdir))
  assert train.train_and_evaluate(_evaluating_config(), str(workdir)) == returned
  assert 'finished, as recorded in metrics.jsonl' in capsys.readouterr().out
  runs.assert_same_metrics(runs.metric_rows(straight), runs.metric_rows(workdir))


def test_a_failing_last_evaluation_keeps_the_last_checkpoint(tmp_path, monkeypatch,
                                                             evaluated_run):
  """The final save is on disk before the final evaluation; the rerun only evaluates."""
  straight, returned = evaluated_run
  workdir = tmp_path / 'run'
  run_one = runner.run_one

  def fails_at_the_end(features, eval_config):
    if features.trainer.total_steps == 8 and fails_at_the_end.calls == 2:  # Step 6's done.
      raise RuntimeError('an evaluation bug')
    fails_at_the_end.calls += 1
    return run_one(features, eval_config)

  fails_at_the_end.calls = 0
  monkeypatch.setattr(runner, 'run_one', fails_at_the_end)
  with pytest.raises(RuntimeError, match='an evaluation bug'):
    train.train_and_evaluate(_evaluating_config(), str(workdir))
  assert runs.committed_steps(workdir)[-1] == 8
  monkeypatch.setattr(runner, 'run_one', run_one)
  assert train.train_and_evaluate(_evaluating_config(), str(workdir)) == returned
  runs.assert_same_metrics(runs.metric_rows(straight), runs.metric_rows(workdir))


def test_a_truncated_metrics_line_is_dropped_with_a_warning(tmp_path, four_steps, caplog):
  source, _ = four_steps
  workdir = tmp_path / 'run'
  shutil.copytree(source, workdir)
  with open(workdir / 'metrics.jsonl', 'a') as f:
    f.write('{"step": 5, "loss": 2.3')  # A crash mid-write.
  train.train_and_evaluate(_synthetic_config(total_steps=6), str(workdir))
  assert 'metrics.jsonl:' in caplog.text and 'is not a JSON row' in caplog.text
  rows = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [row['step'] for row in rows if 'loss' in row] == [2, 4, 6]


def _can_mount_tmpfs() -> bool:
  import subprocess  # pylint: disable=g-import-not-at-top
  return os.geteuid() == 0 and subprocess.run(['unshare', '-m', 'true'],
                                              capture_output=True).returncode == 0


@pytest.mark.slow
@requires(_can_mount_tmpfs(), 'needs root and unshare (a private tmpfs stands in for a full disk)')
def test_a_real_full_disk_stops_at_the_save_and_loses_nothing(tmp_path, straight_vit,
                                                              straight_vit_dir):
  """The ViT run on a 1 MiB tmpfs (in a private mount namespace): one message naming the kept
  checkpoint, no traceback; that workdir, copied to a disk with room, resumes to the
  uninterrupted run's params and metrics."""
  full = tmp_path / 'full'
  full.mkdir()
  cmd = runs.command(full / 'run', *runs.VIT)
  script = (f'mount -t tmpfs -o size=1m none {full} && {" ".join(cmd)}; code=$?; '
            f'cp -a {full}/run {tmp_path}/run; exit $code')
  out = runs.run(['unshare', '-m', 'sh', '-c', script])
  assert out.returncode == 1, out.stderr[-3000:]
  assert 'Traceback' not in out.stderr, out.stderr[-3000:]
  last = out.stderr.strip().splitlines()
  message = next(line for line in last if line.startswith('error: '))
  kept = int(re.search(r'the newest complete checkpoint, step (\d+), is kept', message)[1])
  assert message.startswith('error: the disk is full (No space left on device): saving the '
                            'checkpoint of step ')
  assert runs.committed_steps(tmp_path / 'run')[-1] == kept
  rerun = runs.run(runs.command(tmp_path / 'run', *runs.VIT))
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert runs.resumed_from(rerun.stdout) == kept
  runs.assert_same_params(straight_vit, runs.final_params(tmp_path / 'run'))
  runs.assert_same_metrics(runs.metric_rows(straight_vit_dir), runs.metric_rows(tmp_path / 'run'))
