"""Logs and numerics: a metrics.jsonl cut off mid-write, non-finite gradients (stop, or skip),
a non-finite evaluation metric, a workdir that cannot be written."""
import json
import os

import jax
import numpy as np
import pytest

from tests.helpers import faults
from tests.helpers import reliability_runs as runs
from big_uni import checkpoint, train
from big_uni.tasks import classification
from configs import vit_mnist5k


@pytest.mark.slow  # A whole resumed run (16 s); the README's suite keeps to 15 minutes on 2 cores.
def test_a_truncated_metrics_line_is_left_out_with_a_warning(stopped_run, straight_vit_dir):
  workdir, _ = stopped_run
  with open(workdir / 'metrics.jsonl', 'a') as f:
    f.write('{"step": 11, "loss": 2.3')  # A crash mid-write.
  out = faults.rerun(workdir, *faults.VIT)
  assert 'Traceback' not in out.stderr
  assert [line for line in out.stderr.splitlines() if 'is not a JSON row' in line]
  faults.assert_finished_as(straight_vit_dir, workdir)


@pytest.mark.slow  # Two runs; test_kills' SIGTERM case resumes the same stopped run.
def test_non_finite_gradients_stop_before_anything_is_saved(stopped_run, straight_vit_dir):
  """From step 11 every gradient is NaN: the run stops at the next row (step 15) naming step 11,
  and saves nothing after step 10; the run without the fault resumes from there."""
  workdir, before = stopped_run
  faults.assert_one_line_error(
      faults.inject('nan_gradients_from', 11, workdir, *faults.VIT),
      r'non-finite grad_norm \(nan\) at step 11; nothing after it was saved \(last checkpoint: '
      r'step 10\)')
  faults.assert_nothing_lost(workdir, before)
  assert runs.resumed_from(faults.rerun(workdir, *faults.VIT).stdout) == 10
  faults.assert_finished_as(straight_vit_dir, workdir)


@pytest.mark.slow  # A whole run; the other cases of this family stay in the README's suite.
def test_a_non_finite_evaluation_metric_is_named_and_written_as_null(tmp_path):
  workdir = tmp_path / 'run'
  out = faults.inject('nan_evaluation_loss', 20, workdir, *faults.VIT)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "step 20: non-finite evaluation metrics ['test_loss'] (written to metrics.jsonl as null)" \
      in out.stdout
  def strict(constant):
    raise ValueError(f'{constant} is not JSON')
  rows = [json.loads(line, parse_constant=strict)
          for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [row['test_loss'] for row in rows if 'test_loss' in row] == [None]


def test_an_unwritable_workdir_is_named_before_any_work(tmp_path):
  if os.geteuid() == 0:  # Permission bits do not stop root; sysfs refuses new directories.
    workdir = '/sys/big_uni_workdir'
  else:
    os.chmod(tmp_path, 0o500)
    workdir = str(tmp_path / 'run')
  faults.assert_one_line_error(faults.main(workdir, *faults.VIT),
                               f'--workdir={workdir} is not writable')


def test_skip_nonfinite_steps_keeps_params_and_counts_skips(tmp_path, monkeypatch):
  """In-process: the params and optimizer state before and after are compared directly."""
  config = vit_mnist5k.get_config('smoke')
  config.input.update(dict(dataset='synthetic', eval_examples=128))
  config.update(dict(total_steps=6, log_every_steps=3, checkpoint_every_steps=3,
                     skip_nonfinite_steps=True))
  initial = jax.device_get(train.Trainer(config).init_state())
  loss_and_metrics = classification.ClassificationTask.loss_and_metrics

  def with_nan_gradients(self, params, batch, rng):
    loss, metrics = loss_and_metrics(self, params, batch, rng)
    bias = params['head']['bias'][0]
    return loss + 0.0 * jax.numpy.sqrt(bias - bias), metrics

  monkeypatch.setattr(classification.ClassificationTask, 'loss_and_metrics', with_nan_gradients)
  train.train_and_evaluate(config, str(tmp_path))
  trainer = train.Trainer(config)
  saver = checkpoint.Checkpointer(str(tmp_path / 'checkpoints'), every_steps=1, keep=3)
  final = jax.device_get(saver.restore(trainer.abstract_state))
  saver.close()
  assert int(final.step) == 6  # Every step ran (and spent its batch) ...
  # ... and none changed the params or the optimizer state (Adam's count included).
  jax.tree.map(np.testing.assert_array_equal, (initial.params, initial.opt_state),
               (final.params, final.opt_state))
  rows = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['skipped_steps'] for r in rows if 'skipped_steps' in r] == [3.0, 3.0]
