"""What training logs through clu: the parameter overview printed at start-up, the metric writers
(metrics.jsonl and TensorBoard events as clu MetricWriters under one MultiWriter), progress
(clu's ReportProgress) and a profile of a few steps on request (clu's Profile).

clu.metric_writers imports TensorFlow (for its own SummaryWriter, which big_uni does not use), so
this module is imported by train.train_and_evaluate only: the benchmark path (benchmarks.bench,
train.Trainer) runs without clu and TensorFlow, as on the lent GPU machines.
"""
import errno
import json
import os
import socket
import time

import jax
import numpy as np
from absl import logging
from clu import parameter_overview, periodic_actions
from clu.metric_writers import interface, multi_writer
from etils import epath

from big_uni import errors, metrics_log, paths

_FLUSH_SECONDS = 5.0  # GCS takes about one update of an object per second.
# A profile starts after this many steps of the run (the first compiles the step).
_PROFILE_AFTER_STEPS = 2


def parameter_table(abstract_params) -> str:
  """clu's table of every parameter (name, shape, dtype, size, mesh axes of its sharding) and
  the total, from `abstract_params` (jax.ShapeDtypeStructs with shardings: nothing allocated)."""
  return parameter_overview.get_parameter_overview(abstract_params, include_stats='sharding')


class _GrowingFile:
  """A file that is only appended to, held in memory and written whole at each flush
  (paths.write_whole): object stores cannot append, and a kill never leaves part of a line."""

  def __init__(self, path: epath.Path, content: bytes = b''):
    self._path = path
    self._content = bytearray(content)
    self._flushed = False
    self._last_flush = time.monotonic()

  def write(self, data: bytes):
    self._content += data
    self._flushed = False

  def flush(self):
    if not self._flushed:
      try:
        paths.write_whole(self._path, bytes(self._content))
      except OSError as e:
        if e.errno != errno.ENOSPC:
          raise
        raise errors.DiskFullError(
            f'the disk is full (No space left on device): writing {self._path} failed. Free '
            'some space (or give a --workdir on a larger disk) and rerun the same command; it '
            'resumes from the newest complete checkpoint.') from None
      self._flushed = True
    self._last_flush = time.monotonic()

  def flush_if_due(self):
    """Flushes when _FLUSH_SECONDS have passed since the last flush; called between records."""
    if time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
      self.flush()


class _ScalarWriter(interface.MetricWriter):
  """A clu MetricWriter of scalars. Other kinds are not written, with a warning the first time
  each is given (as clu's own writers treat the kinds they cannot write)."""

  def __init__(self):
    self._warned = set()

  def _not_written(self, kind: str):
    if kind not in self._warned:
      self._warned.add(kind)
      logging.warning('%s writes scalars only: %s are not written', type(self).__name__, kind)

  def write_summaries(self, step, values, metadata=None):
    self._not_written('summaries')

  def write_images(self, step, images):
    self._not_written('images')

  def write_videos(self, step, videos):
    self._not_written('videos')

  def write_audios(self, step, audios, *, sample_rate):
    self._not_written('audios')

  def write_texts(self, step, texts):
    self._not_written('texts')

  def write_histograms(self, step, arrays, num_buckets=None):
    self._not_written('histograms')

  def write_hparams(self, hparams):
    self._not_written('hparams (the run\'s config is in config.json)')


def _json_value(value) -> float | None:
  """JSON has no NaN or Infinity: a non-finite metric is written as null."""
  value = float(np.asarray(value))
  return value if np.isfinite(value) else None


class JsonlWriter(_ScalarWriter):
  """metrics.jsonl: {"step": s, <scalar>: value, ...}, one line per write (a non-finite value as
  null). A rerun keeps the lines of the steps up to `first_step`, the checkpoint it resumes from,
  and writes the later steps again: every step is in the file once however often the run was
  killed."""

  def __init__(self, path: epath.Path, first_step: int, rows=None):
    """rows: the file's metrics_log.read_rows, when the caller has read them already."""
    super().__init__()
    rows = metrics_log.read_rows(path) if rows is None else rows
    kept = ''.join(line for line, row in rows if row['step'] <= first_step)
    self._file = _GrowingFile(path, kept.encode())

  def write_scalars(self, step, scalars):
    row = {'step': int(step), **{k: _json_value(v) for k, v in scalars.items()}}
    self._file.write((json.dumps(row, allow_nan=False) + '\n').encode())
    self._file.flush_if_due()

  def flush(self):
    self._file.flush()

  def close(self):
    self.flush()


class TensorBoardWriter(_ScalarWriter):
  """One TensorBoard event file per start of the run, written with TensorBoard's protos and
  through epath like every other file (clu's SummaryWriter writes through TensorFlow, which
  writes gs:// with its own GCS client)."""

  def __init__(self, workdir: epath.Path):
    super().__init__()
    from tensorboard.summary.writer import record_writer  # pylint: disable=g-import-not-at-top
    # The usual name; TensorBoard reads every file with 'tfevents' in its name.
    name = f'events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.v2'
    self._file = _GrowingFile(workdir / name)
    self._records = record_writer.RecordWriter(self._file)
    self._write(file_version='brain.Event:2')

  def _write(self, **fields):
    from tensorboard.compat.proto import event_pb2  # pylint: disable=g-import-not-at-top
    event = event_pb2.Event(wall_time=time.time(), **fields)
    self._records.write(event.SerializeToString())

  def write_scalars(self, step, scalars):
    from tensorboard.compat.proto import summary_pb2  # pylint: disable=g-import-not-at-top
    values = [summary_pb2.Summary.Value(tag=k, simple_value=float(np.asarray(v)))
              for k, v in scalars.items()]
    self._write(step=int(step), summary=summary_pb2.Summary(value=values))
    self._file.flush_if_due()  # Between records: an uploaded file never ends inside one.

  def flush(self):
    self._file.flush()

  def close(self):
    self.flush()


def create_writer(workdir: epath.Path, first_step: int, rows=None) -> interface.MetricWriter:
  """Process 0 writes metrics.jsonl (keeping `rows`, its metrics_log.read_rows, up to
  `first_step`) and TensorBoard events in `workdir`; other processes write nothing. Each file is
  written whole at most every _FLUSH_SECONDS, and at each `flush()`."""
  writers = []
  if jax.process_index() == 0:
    writers = [JsonlWriter(workdir / 'metrics.jsonl', first_step, rows),
               TensorBoardWriter(workdir)]
  return multi_writer.MultiWriter(writers)


class Progress(periodic_actions.ReportProgress):
  """clu's ReportProgress, called at the steps the trainer logs: `report` gives steps/s since
  the last report and what follows from it (examples/s, tokens/s, model TFLOP/s per device and
  MFU from big_uni/flops.py's count); clu puts the ETA in the work unit's notes (an absl INFO
  line on a local run), and `console_line` prints it."""

  def __init__(self, first_step: int, total_steps: int, global_batch_size: int,
               step_cost=None, devices: int = 1, peak_tflops: float | None = None):
    """step_cost: a flops.StepCost (None: no FLOP or token rates); peak_tflops: per device, for
    MFU (None on CPUs and unknown chips: no MFU)."""
    super().__init__(num_train_steps=total_steps, every_steps=None, every_secs=None)
    self._total_steps, self._batch = total_steps, global_batch_size
    self._cost, self._devices, self._peak = step_cost, devices, peak_tflops
    self._rates = {}
    self(first_step)  # Starts the clock: the first call only records the step and the time.

  def _should_trigger(self, step: int, t: float) -> bool:
    return step != self._previous_step  # Every call after the first reports.

  def _apply(self, step: int, t: float):
    super()._apply(step, t)
    steps_per_sec = (step - self._previous_step) / (t - self._previous_time)  # as clu's
    self._rates = {'steps_per_sec': steps_per_sec, 'examples_per_sec': steps_per_sec * self._batch}
    if self._cost:
      tflops = self._cost.flops * steps_per_sec / self._devices / 1e12
      self._rates.update(tokens_per_sec=self._cost.tokens * steps_per_sec,
                         tflops_per_sec_per_device=tflops)
      if self._peak:
        self._rates['mfu'] = tflops / self._peak

  def report(self, step: int, t: float | None = None) -> dict:
    """The rates since the last report (`t`: the time.monotonic() of `step`, default now)."""
    self(step, t)
    return dict(self._rates)

  def console_line(self, step: int, scalars: dict) -> str:
    eta = (self._total_steps - step) / max(scalars['steps_per_sec'], 1e-9)
    shown = ', '.join(f'{k}={v:.4g}' for k, v in scalars.items())
    return f'step {step}/{self._total_steps} | ETA {_duration(eta)} | {shown}'


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else f'{minutes}m{seconds:02d}s'


def profile_action(config, workdir: epath.Path, first_step: int,
                   total_steps: int) -> periodic_actions.Profile | None:
  """clu's Profile of `config.profile_steps` train steps (None when 0) after the run's first
  two: a jax.profiler trace in workdir/plugins/profile/ (TensorBoard's profile tab,
  `tensorboard --logdir=<workdir>`). Call it after every step."""
  steps = config.profile_steps
  if not steps:
    return None
  first = first_step + _PROFILE_AFTER_STEPS
  if first + steps > total_steps:
    raise errors.UserInputError(
        f'config.profile_steps={steps} does not fit: the profile starts after step {first} and '
        f'the run ends at step {total_steps}; profile fewer steps or train longer')
  # profile_duration_ms=None: the trace ends after its steps (clu's default also waits until 3 s
  # have passed).
  return periodic_actions.Profile(logdir=os.fspath(workdir), num_profile_steps=steps,
                                  profile_duration_ms=None, first_profile=first,
                                  every_secs=None)
