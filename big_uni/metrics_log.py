"""Metric logging: TensorBoard events, one JSON object per line, and a console progress line."""
import importlib.util
import json
import os
import socket
import time

import jax
import numpy as np
from etils import epath

from big_uni import paths

_FLUSH_SECONDS = 5.0  # GCS takes about one update of an object per second.


class _GrowingFile:
  """A file that is only appended to, held in memory and written whole at each flush
  (paths.write_whole): object stores cannot append, and a kill never leaves part of a line."""

  def __init__(self, path: epath.Path, content: bytes = b''):
    self._path = path
    self._content = bytearray(content)
    self._flushed = False

  def write(self, data: bytes):
    self._content += data
    self._flushed = False

  def flush(self):
    if not self._flushed:
      paths.write_whole(self._path, bytes(self._content))
      self._flushed = True


class JsonlWriter:
  """metrics.jsonl: {"step": s, <scalar>: value, ...}, one line per write. A rerun keeps the
  lines of the steps up to `first_step`, the checkpoint it resumes from, and writes the later
  steps again: every step is in the file once however often the run was killed."""

  def __init__(self, path: epath.Path, first_step: int):
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    kept = ''.join(line for line in lines if json.loads(line)['step'] <= first_step)
    self._file = _GrowingFile(path, kept.encode())

  def write_scalars(self, step: int, scalars: dict):
    row = {'step': int(step), **{k: float(np.asarray(v)) for k, v in scalars.items()}}
    self._file.write((json.dumps(row) + '\n').encode())

  def flush(self):
    self._file.flush()


class TensorBoardWriter:
  """One TensorBoard event file per start of the run, written with TensorBoard's protos and
  through epath like every other file (TensorFlow's writer needs TensorFlow, and writes gs://
  with its own GCS client)."""

  def __init__(self, workdir: epath.Path):
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

  def write_scalars(self, step: int, scalars: dict):
    from tensorboard.compat.proto import summary_pb2  # pylint: disable=g-import-not-at-top
    values = [summary_pb2.Summary.Value(tag=k, simple_value=float(np.asarray(v)))
              for k, v in scalars.items()]
    self._write(step=int(step), summary=summary_pb2.Summary(value=values))

  def flush(self):
    self._file.flush()


class MetricWriter:
  """Process 0 writes TensorBoard events and metrics.jsonl in the workdir; others write nothing.
  Files are written at most every _FLUSH_SECONDS, and at each `flush()`."""

  def __init__(self, workdir: epath.Path, first_step: int):
    self._writers = []
    if jax.process_index() == 0:
      self._writers.append(JsonlWriter(workdir / 'metrics.jsonl', first_step))
      # Installed with big_uni, but GPU machines hold only some wheels.
      if importlib.util.find_spec('tensorboard'):
        self._writers.append(TensorBoardWriter(workdir))
      else:
        print('No TensorBoard logs (the tensorboard package is not installed); metrics go to '
              'metrics.jsonl only.', flush=True)
    self._last_flush = time.monotonic()

  def write_scalars(self, step: int, scalars: dict):
    for writer in self._writers:
      writer.write_scalars(step, scalars)
    if time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
      self.flush()

  def flush(self):
    for writer in self._writers:
      writer.flush()
    self._last_flush = time.monotonic()

  def close(self):
    self.flush()


class Progress:
  """Throughput since the last report (steps/s, examples/s, tokens/s, model TFLOP/s per device
  and MFU, from big_uni/flops.py's count) and an ETA to `total_steps`."""

  def __init__(self, first_step: int, total_steps: int, global_batch_size: int,
               step_cost=None, devices: int = 1, peak_tflops: float | None = None):
    """step_cost: a flops.StepCost (None: no FLOP or token rates); peak_tflops: per device, for
    MFU (None on CPUs and unknown chips: no MFU)."""
    self._total_steps = total_steps
    self._batch = global_batch_size
    self._cost, self._devices, self._peak = step_cost, devices, peak_tflops
    self._last_step, self._last_time = first_step, time.perf_counter()

  def report(self, step: int) -> dict:
    now = time.perf_counter()
    steps_per_sec = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_step, self._last_time = step, now
    rates = {'steps_per_sec': steps_per_sec, 'examples_per_sec': steps_per_sec * self._batch}
    if self._cost:
      tflops = self._cost.flops * steps_per_sec / self._devices / 1e12
      rates.update(tokens_per_sec=self._cost.tokens * steps_per_sec,
                   tflops_per_sec_per_device=tflops)
      if self._peak:
        rates['mfu'] = tflops / self._peak
    return rates

  def console_line(self, step: int, scalars: dict) -> str:
    eta = (self._total_steps - step) / max(scalars['steps_per_sec'], 1e-9)
    shown = ', '.join(f'{k}={v:.4g}' for k, v in scalars.items())
    return f'step {step}/{self._total_steps} | ETA {_duration(eta)} | {shown}'


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else f'{minutes}m{seconds:02d}s'


def log(message: str):
  """Console progress from process 0 (absl INFO logs are off by default in main)."""
  if jax.process_index() == 0:
    print(message, flush=True)
