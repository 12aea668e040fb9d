"""Which example fills each row of each batch: index-based sampling shared by every pipeline.

Training reads the stream of positions 0, 1, 2, ... of an endless sequence of epochs; position q
is example `shuffle(q % size)` of epoch q // size, a stateless permutation keyed by (seed, epoch)
(stateless_random.py) whose every element is computed alone, nothing stored.
Global batch s holds positions [s * G, (s + 1) * G) (G = global batch size) and process i of n
reads its rows [i * B, (i + 1) * B) (B = G / n). So the rows of a batch depend on (seed, step)
only, never on the number of processes, and a restart at step 100,000 costs what any step costs
instead of re-reading 10^8 examples.
Evaluation reads positions 0 .. size - 1 in order, padded to whole global batches.
"""
import dataclasses
import itertools
import math

import numpy as np

from input_pipeline import errors, stateless_random


def local_batch_size(global_batch_size: int, process_count: int) -> int:
  """This process's rows of each global batch (the one place the division is checked)."""
  if global_batch_size % process_count:
    raise errors.UserInputError(
        f'batch size {global_batch_size} is not divisible by {process_count} processes: make '
        'input.batch_size (and input.eval_batch_size) a multiple of the process count')
  return global_batch_size // process_count


@dataclasses.dataclass(frozen=True)
class Rows:
  """The rows one process reads of one batch."""
  step: int  # The train step, or the eval batch's number.
  positions: np.ndarray  # int64 [B]: positions in the stream (seeds of random choices).
  indices: np.ndarray  # int64 [B]: the example of each row (0 on eval padding).
  mask: np.ndarray  # bool [B]: False on eval padding (all True in training).


def steps(start_step: int, num_steps: int | None = None):
  """start_step, start_step + 1, ...: endless, or `num_steps` of them."""
  return itertools.count(start_step) if num_steps is None else range(start_step,
                                                                     start_step + num_steps)


def train_rows(size: int, seed: int, *, global_batch_size: int, process_index: int,
               process_count: int, start_step: int = 0, num_steps: int | None = None):
  """Rows of batches start_step, start_step + 1, ... (endless, or `num_steps` of them)."""
  if size <= 0:
    raise errors.UserInputError('the training split has no examples')
  local_batch = local_batch_size(global_batch_size, process_count)
  offsets = process_index * local_batch + np.arange(local_batch)
  for step in steps(start_step, num_steps):
    positions = step * global_batch_size + offsets
    epochs, indices = positions // size, np.empty(local_batch, np.int64)
    for epoch in np.unique(epochs).tolist():  # A batch may span the end of an epoch.
      rows = epochs == epoch
      indices[rows] = stateless_random.shuffle(positions[rows] % size, size, (seed, epoch))
    yield Rows(step, positions, indices, np.ones(local_batch, bool))


def eval_rows(size: int, *, global_batch_size: int, process_index: int, process_count: int):
  """One ordered pass: the same number of batches on every process, the last ones padded."""
  if size <= 0:
    raise errors.UserInputError('the evaluation split has no examples')
  local_batch = local_batch_size(global_batch_size, process_count)
  offsets = process_index * local_batch + np.arange(local_batch)
  for step in range(math.ceil(size / global_batch_size)):
    positions = step * global_batch_size + offsets
    real = positions < size
    yield Rows(step, positions, np.where(real, positions, 0), real)



def rows(size: int, *, train: bool, seed: int, global_batch_size: int, process_index: int,
         process_count: int, start_step: int = 0, num_steps: int | None = None):
  """train_rows (train=True) or eval_rows: the Rows of an index-based pipeline's batches."""
  shards = dict(global_batch_size=global_batch_size, process_index=process_index,
                process_count=process_count)
  if train:
    return train_rows(size, seed, start_step=start_step, num_steps=num_steps, **shards)
  return eval_rows(size, **shards)


def batches(size: int, batch_of, *, train: bool, pad_ids: dict | None = None, **row_options):
  """batch_of(indices int [B]) -> dict, for each batch of `rows(size, train=train,
  **row_options)`; in eval padded with a 'mask' (`padded`, with `pad_ids`)."""
  for r in rows(size, train=train, **row_options):
    yield batch_of(r.indices) if train else padded(batch_of(r.indices), r.mask, pad_ids)


def pad_rows(x: np.ndarray, rows: int, **pad_options) -> np.ndarray:
  """x [N, ...] -> [rows, ...]: rows appended after the N, zeros unless `pad_options` (np.pad's
  `mode`, `constant_values`) say otherwise; the last batch of an evaluation made whole."""
  return np.pad(x, [(0, rows - len(x))] + [(0, 0)] * (np.ndim(x) - 1), **pad_options)


def padded(batch: dict, mask: np.ndarray, pad_ids: dict | None = None) -> dict:
  """An eval batch whose padding rows (mask False; they re-read example 0) are zeros, or
  `pad_ids[key]` for token ids, with the 'mask' bool [B] that marks the real rows."""
  pad_ids = pad_ids or {}
  rows = lambda v: mask.reshape(-1, *[1] * (v.ndim - 1))
  return {**{k: np.where(rows(v), v, pad_ids.get(k, 0)).astype(v.dtype)
             for k, v in batch.items()}, 'mask': mask}
