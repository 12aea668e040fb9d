"""Which example fills each row of each batch: index-based sampling shared by every pipeline.

Training reads the stream of positions 0, 1, 2, ... of an endless sequence of epochs; position q
is example `permutation(seed, q // size)[q % size]`, each epoch a fresh permutation of the split.
Global batch s holds positions [s * G, (s + 1) * G) (G = global batch size) and process i of n
reads its rows [i * B, (i + 1) * B) (B = G / n). So the rows of a batch depend on (seed, step)
only, never on the number of processes, and a restart at step 100,000 computes one epoch's
permutation (25 ms for ImageNet's 1.28M examples) instead of re-reading 10^8 examples.
Evaluation reads positions 0 .. size - 1 in order, padded to whole global batches.
"""
import dataclasses
import itertools
import math

import numpy as np

from input_pipeline import errors


def local_batch_size(global_batch_size: int, process_count: int) -> int:
  """This process's rows of each global batch (the one place the division is checked)."""
  if global_batch_size % process_count:
    raise errors.UserInputError(
        f'batch size {global_batch_size} is not divisible by {process_count} processes: make '
        'input.batch_size (and input.eval_batch_size) a multiple of the process count')
  return global_batch_size // process_count


def epoch_permutation(size: int, seed: int, epoch: int) -> np.ndarray:
  """int64 [size]: the order of epoch `epoch`'s examples."""
  return np.random.default_rng([seed, epoch]).permutation(size)


@dataclasses.dataclass(frozen=True)
class Rows:
  """The rows one process reads of one batch."""
  step: int  # The train step, or the eval batch's number.
  positions: np.ndarray  # int64 [B]: positions in the stream (seeds of random choices).
  indices: np.ndarray  # int64 [B]: the example of each row (0 on eval padding).
  mask: np.ndarray  # bool [B]: False on eval padding (all True in training).


def train_rows(size: int, seed: int, *, global_batch_size: int, process_index: int,
               process_count: int, start_step: int = 0, num_steps: int | None = None):
  """Rows of batches start_step, start_step + 1, ... (endless, or `num_steps` of them)."""
  if size <= 0:
    raise errors.UserInputError('the training split has no examples')
  local_batch = local_batch_size(global_batch_size, process_count)
  offsets = process_index * local_batch + np.arange(local_batch)
  steps = itertools.count(start_step) if num_steps is None else range(start_step,
                                                                        start_step + num_steps)
  permutations = {}  # The epochs the current batch draws from.
  for step in steps:
    positions = step * global_batch_size + offsets
    epochs = positions // size
    for epoch in set(epochs.tolist()) - set(permutations):
      permutations[epoch] = epoch_permutation(size, seed, epoch)
    for finished in [e for e in permutations if e < epochs[0]]:
      del permutations[finished]
    indices = np.empty(local_batch, np.int64)
    for epoch in np.unique(epochs).tolist():
      rows = epochs == epoch
      indices[rows] = permutations[epoch][positions[rows] % size]
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


def uniforms(seed: int, positions: np.ndarray, stream: int = 0) -> np.ndarray:
  """float64 [n] in [0, 1): one draw per row, a function of (seed, stream, position) only.

  SplitMix64 (Steele et al. 2014) of the three, vectorised: per-row choices (which caption,
  which template) without a generator per row."""
  with np.errstate(over='ignore'):
    x = (np.asarray(positions, np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
         + np.uint64(stream) * np.uint64(0xD1B54A32D192ED03))
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
      x = (x ^ (x >> np.uint64(shift))) * np.uint64(multiplier)
    x ^= x >> np.uint64(31)
  return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
