"""Training's logging through clu (big_uni/clu_logging.py): the parameter table, the writers as
clu MetricWriters, ReportProgress's rates and a profile on request."""
import json
import math
import os
import re
import subprocess
import sys
import time

import jax
import pytest
from clu import periodic_actions
from clu.metric_writers import interface
from etils import epath

from big_uni import clu_logging, errors, flops, train
from configs import vit_mnist5k
from tests.helpers import synthetic_steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _smoke_config(**overrides):
  return synthetic_steps.smoke_config(vit_mnist5k, **overrides)


def test_parameter_table_lists_every_param_with_its_size_and_the_total():
  trainer = train.Trainer(_smoke_config())
  params = trainer.abstract_state.params  # shapes only: nothing is allocated for the table
  table = clu_logging.parameter_table(params)
  rows = {}
  for line in table.splitlines():
    cells = [cell.strip() for cell in line.strip('|').split('|')]
    if len(cells) == 5 and cells[0] != 'Name':
      rows[cells[0]] = int(cells[3].replace(',', ''))
  expected = {'/'.join(key.key for key in path): math.prod(leaf.shape)
              for path, leaf in jax.tree_util.tree_leaves_with_path(params)}
  assert rows == expected
  assert f'Total: {train.count_params(params):,} ' in table
  # The sharding column gives each param's mesh axes, e.g. the patch embedding over fsdp.
  assert re.search(r"\| patch_embed/kernel .*\(None, None, None, 'fsdp'\) +\|", table)


def test_writers_are_clu_metric_writers_and_write_both_files(tmp_path):
  # Instances: a MetricWriter method left unimplemented would make this a TypeError.
  for writer in (clu_logging.JsonlWriter(epath.Path(tmp_path) / 'other.jsonl', first_step=0),
                 clu_logging.TensorBoardWriter(epath.Path(tmp_path / 'other'))):
    assert isinstance(writer, interface.MetricWriter)
  writer = clu_logging.create_writer(epath.Path(tmp_path), first_step=0)
  assert isinstance(writer, interface.MetricWriter)
  writer.write_scalars(1, {'loss': 2.5})
  writer.write_images(1, {'inputs': jax.numpy.zeros((1, 2, 2, 1))})  # scalars only: dropped
  writer.close()
  assert [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')] == [
      {'step': 1, 'loss': 2.5}]
  events = [name for name in os.listdir(tmp_path) if 'tfevents' in name]
  assert len(events) == 1 and os.path.getsize(tmp_path / events[0]) > 0


def test_jsonl_writer_keeps_the_rows_up_to_the_resumed_step(tmp_path):
  path = epath.Path(tmp_path) / 'metrics.jsonl'
  first = clu_logging.JsonlWriter(path, first_step=0)
  for step in (2, 4, 6):
    first.write_scalars(step, {'loss': float(step)})
  first.close()
  resumed = clu_logging.JsonlWriter(path, first_step=4)  # the step-4 checkpoint
  resumed.write_scalars(6, {'loss': 60.0})
  resumed.close()
  assert [json.loads(line) for line in path.read_text().splitlines()] == [
      {'step': 2, 'loss': 2.0}, {'step': 4, 'loss': 4.0}, {'step': 6, 'loss': 60.0}]


def test_progress_is_report_progress_and_gives_the_rates_of_steps_per_sec():
  cost = flops.StepCost(flops=4e12, tokens=1000)
  progress = clu_logging.Progress(first_step=0, total_steps=131, global_batch_size=8,
                                  step_cost=cost, devices=2, peak_tflops=100.0)
  assert isinstance(progress, periodic_actions.ReportProgress)
  later = time.monotonic() + 100.0
  progress.report(10, t=later)
  rates = progress.report(30, t=later + 4.0)  # 20 steps in 4 s since the last report
  assert rates == pytest.approx({'steps_per_sec': 5.0, 'examples_per_sec': 40.0,
                                 'tokens_per_sec': 5000.0, 'tflops_per_sec_per_device': 10.0,
                                 'mfu': 0.1})
  assert progress.console_line(30, rates).startswith(
      'step 30/131 | ETA 0m20s | steps_per_sec=5, examples_per_sec=40,')


def test_train_writes_the_rates_into_the_train_rows(tmp_path):
  train.train_and_evaluate(_smoke_config(total_steps=4), str(tmp_path))
  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert [row['step'] for row in rows if 'steps_per_sec' in row] == [2, 4]
  assert all('loss' in row for row in rows if 'steps_per_sec' in row)  # one row per logged step


@pytest.mark.slow  # 20 s (a process of its own); the README's suite keeps to 15 minutes.
def test_profile_steps_write_a_trace(tmp_path):
  """In a process of its own, as a run is: jax.profiler crashes in a process where other tests
  have loaded libtpu's TPU compiler (test_aot, test_accelerator_paths)."""
  out = subprocess.run(
      [sys.executable, '-m', 'big_uni.main', '--config=configs/vit_mnist5k.py:smoke',
       f'--workdir={tmp_path}', '--config.input.dataset=synthetic', '--config.total_steps=5',
       '--config.profile_steps=2'], capture_output=True, text=True, cwd=ROOT, check=False,
      env={**os.environ, 'PYTHONPATH': ROOT})
  assert out.returncode == 0, out.stderr[-3000:]
  traces = list(epath.Path(tmp_path).glob('plugins/profile/*/*.xplane.pb'))
  assert len(traces) == 1 and traces[0].stat().length > 0


def test_profile_longer_than_the_run_is_refused_before_training(tmp_path):
  with pytest.raises(errors.UserInputError, match='profile_steps=3 does not fit'):
    train.train_and_evaluate(_smoke_config(total_steps=4, profile_steps=3), str(tmp_path))
  assert not (tmp_path / 'metrics.jsonl').exists()
