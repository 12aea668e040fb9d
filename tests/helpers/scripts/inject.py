"""Runs `python -m big_uni.main ARGS` with one fault injected at a chosen point:

  python tests/helpers/scripts/inject.py FAULT STEP -- ARGS

FAULT is one of FAULTS below; STEP is the train step it strikes at. The process is otherwise the
real command line, so what a test sees (exit status, stderr, the workdir) is what a user sees.
"""
import errno
import os
import runpy
import signal
import sys

_current = {'evaluation': None, 'save': None}  # The step being evaluated, being saved.


def _at_step(step: int, strike):
  """Strikes after the train step `step` was dispatched, where the run polls for preemption."""
  from big_uni import preemption
  reached = preemption.Notice.reached

  def reached_or_strike(self, current):
    if current == step:
      strike()
    return reached(self, current)

  preemption.Notice.reached = reached_or_strike


def _in_evaluation(step: int, strike):
  """Strikes at `step` as the first `config.evals` entry after the task's own metrics starts
  (runner.run_one; the task_metrics entry runs first): the task's metrics of that step are
  computed by then, the other entries' not. train._evaluate writes a step's evaluations together,
  once all of them have run, so metrics.jsonl holds none of that step's."""
  from big_uni import train
  from big_uni.evaluators import kinds, runner
  run_one = runner.run_one

  def run_one_or_strike(features, entry):
    if _current['evaluation'] == step and not kinds.get(entry.kind).runs_first:
      strike()
    return run_one(features, entry)

  evaluate = train._evaluate  # pylint: disable=protected-access

  def evaluate_at(trainer, params, current, names, writer):
    _current['evaluation'] = current
    return evaluate(trainer, params, current, names, writer)

  runner.run_one = run_one_or_strike
  train._evaluate = evaluate_at  # pylint: disable=protected-access


def _in_save(step: int, strike):
  """Strikes in the async save of `step`: its files are written, the rename that commits them
  has not happened."""
  from orbax.checkpoint._src.path import atomicity
  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def finalize_or_strike(self, *args, **kwargs):
    if f'{step}.orbax-checkpoint-tmp' in str(self.get()):
      strike()
    return await finalize(self, *args, **kwargs)

  atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_strike


def _disk_full_from(step: int, error=None):
  """Every array write of the saves from `step` on fails as on a full disk: with `error`, or the
  error TensorStore raises there."""
  from orbax.checkpoint._src.serialization import serialization
  write = serialization.async_serialize_from_host

  async def write_or_fail(*args, **kwargs):
    if _current['save'] >= step:
      raise error or ValueError(
          'RESOURCE_EXHAUSTED: Error writing "params.head.bias/0" in OCDBT database: Failed to '
          f"write 53917 bytes to file 7: No space left on device [os_error_code='{errno.ENOSPC}']")
    return await write(*args, **kwargs)

  serialization.async_serialize_from_host = write_or_fail
  from big_uni import checkpoint
  save = checkpoint.Checkpointer.save

  def save_at(self, current, *args, **kwargs):
    self.wait()  # The writes of the save before (which orbax waits for too) are not this one's.
    _current['save'] = current
    return save(self, current, *args, **kwargs)

  checkpoint.Checkpointer.save = save_at


def _nan_gradients_from(step: int):
  """From the first step this process trains (which must be `step`), the loss stays finite and
  every gradient is NaN (d sqrt(x)/dx at 0 is inf, times 0)."""
  import jax.numpy as jnp
  from big_uni.tasks import classification
  loss_and_metrics = classification.ClassificationTask.loss_and_metrics

  def with_nan_gradients(self, params, batch, rng):
    loss, metrics = loss_and_metrics(self, params, batch, rng)
    bias = params['head']['bias'][0]
    return loss + 0.0 * jnp.sqrt(bias - bias), metrics

  classification.ClassificationTask.loss_and_metrics = with_nan_gradients
  del step  # The run resumes at it: the test starts it from that step's checkpoint.


def _nan_evaluation_loss(step: int):
  """The task's evaluation loss is NaN at `step` (a model or evaluation data that is broken): the
  task_metrics entry's summary (Task.summarize_eval) of that step."""
  from big_uni import train
  from big_uni.tasks import classification
  summarize = classification.ClassificationTask.summarize_eval
  evaluate = train._evaluate  # pylint: disable=protected-access

  def evaluate_at(trainer, params, current, names, writer):
    _current['evaluation'] = current
    return evaluate(trainer, params, current, names, writer)

  def summarize_with_nan(self, means):
    summary = summarize(self, means)
    return dict(summary, loss=float('nan')) if _current['evaluation'] == step else summary

  classification.ClassificationTask.summarize_eval = summarize_with_nan
  train._evaluate = evaluate_at  # pylint: disable=protected-access


def _kill():
  os.kill(os.getpid(), signal.SIGKILL)


def _terminate():
  os.kill(os.getpid(), signal.SIGTERM)  # The handler runs before the next bytecode.


def _raise():
  raise RuntimeError('an evaluation bug')


FAULTS = {
    'sigkill_at_step': lambda step: _at_step(step, _kill),
    'sigterm_at_step': lambda step: _at_step(step, _terminate),
    'sigkill_in_evaluation': lambda step: _in_evaluation(step, _kill),
    'sigterm_in_evaluation': lambda step: _in_evaluation(step, _terminate),
    'bug_in_evaluation': lambda step: _in_evaluation(step, _raise),
    'sigkill_in_save': lambda step: _in_save(step, _kill),
    'disk_full_from_save': _disk_full_from,
    'enospc_from_save': lambda step: _disk_full_from(
        step, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
    'nan_gradients_from': _nan_gradients_from,
    'nan_evaluation_loss': _nan_evaluation_loss,
}

if __name__ == '__main__':
  fault, step, separator, *args = sys.argv[1:]
  assert separator == '--', sys.argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')  # As big_uni.main, before JAX starts.
  from big_uni import xla_flags
  xla_flags.set_defaults()
  FAULTS[fault](int(step))
  sys.argv = ['big_uni.main', *args]
  runpy.run_module('big_uni.main', run_name='__main__')
