"""Metric logging: TensorBoard (clu), one JSON object per line, and a console progress line."""
import json
import os
import time

import jax
import numpy as np


class JsonlWriter:
  """Appends {"step": s, <scalar>: value, ...} lines to a file, one line per write."""

  def __init__(self, path: str):
    self._file = open(path, 'a')

  def write_scalars(self, step: int, scalars: dict):
    row = {'step': int(step), **{k: float(np.asarray(v)) for k, v in scalars.items()}}
    self._file.write(json.dumps(row) + '\n')
    self._file.flush()

  def close(self):
    self._file.close()


def _tensorboard_writer(workdir: str):
  """clu's TensorBoard writer, or None where TensorFlow is absent (it writes tf.summary)."""
  try:
    from clu import metric_writers  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    print(f'No TensorBoard logs ({e}); metrics go to metrics.jsonl only.', flush=True)
    return None
  return metric_writers.SummaryWriter(workdir)


class MetricWriter:
  """Process 0 writes TensorBoard events and metrics.jsonl in the workdir; others write nothing."""

  def __init__(self, workdir: str):
    self._writers = []
    if jax.process_index() == 0:
      self._writers.append(JsonlWriter(os.path.join(workdir, 'metrics.jsonl')))
      tensorboard = _tensorboard_writer(workdir)
      if tensorboard is not None:
        self._writers.append(tensorboard)

  def write_scalars(self, step: int, scalars: dict):
    for writer in self._writers:
      writer.write_scalars(step, scalars)

  def close(self):
    for writer in self._writers:
      writer.close()


class Progress:
  """Throughput (steps/s, examples/s) since the last report, and an ETA to `total_steps`."""

  def __init__(self, first_step: int, total_steps: int, global_batch_size: int):
    self._total_steps = total_steps
    self._batch = global_batch_size
    self._last_step, self._last_time = first_step, time.perf_counter()

  def report(self, step: int) -> dict:
    now = time.perf_counter()
    steps_per_sec = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_step, self._last_time = step, now
    return {'steps_per_sec': steps_per_sec, 'examples_per_sec': steps_per_sec * self._batch}

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
