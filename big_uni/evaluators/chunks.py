"""Feature rows in chunks: what kNN and the linear probe compute on, one chunk at a time.

A `Chunks` holds `features` [chunks, rows, D], `labels` int [chunks, rows] and `valid` bool
[chunks, rows] (False on padding rows). Each of the three only needs `len()` and `[j]` (chunk j,
e.g. [rows, D]), so `features` may be a jax.Array whose rows are sharded over the devices
(features.Features: one chunk per eval batch, never gathered to a host), a numpy array, an
np.memmap on disk or a generator object: peak memory is one chunk's, whatever their number.
Row order (chunk, then row) is the examples' order, which ties are broken by.
"""
from typing import Any, NamedTuple

import numpy as np

from input_pipeline import sampling


class Chunks(NamedTuple):
  features: Any  # [chunks, rows, D]
  labels: Any  # int [chunks, rows]
  valid: Any  # bool [chunks, rows]

  @property
  def rows(self) -> int:
    """Rows per chunk."""
    return int(np.shape(self.valid[0])[0])

  @property
  def num_chunks(self) -> int:
    return len(self.valid)


def from_arrays(features, labels, rows: int = 4096) -> Chunks:
  """features [N, D], labels [N] -> Chunks of `rows` rows (at most N), the last one padded."""
  features, labels = np.asarray(features, np.float32), np.asarray(labels)
  count = len(labels)
  rows = max(1, min(rows, count))
  padding = -count % rows
  shape = (-1, rows)
  return Chunks(sampling.pad_rows(features, count + padding).reshape(*shape, features.shape[1]),
                sampling.pad_rows(labels, count + padding).reshape(shape),
                (np.arange(count + padding) < count).reshape(shape))


def as_chunks(features, labels=None, rows: int = 4096) -> Chunks:
  """`features` as it is when already Chunks, else `from_arrays(features, labels, rows)`."""
  if isinstance(features, Chunks):
    return features
  return from_arrays(features, labels, rows)
