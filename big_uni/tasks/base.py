"""The interface between an objective and the one trainer."""
import abc

import numpy as np


class Task(abc.ABC):
  """A model, its loss and metrics, and the shapes of its batches.

  Batches are dicts of arrays with a leading batch axis; evaluation batches carry 'mask'
  (bool [B], False on padding rows) so every example is counted exactly once.
  """

  @abc.abstractmethod
  def init_params(self, rng):
    """Boxed (logically partitioned) params; the trainer calls it under jax.eval_shape."""

  @abc.abstractmethod
  def synthetic_batch(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
    """Random inputs of the real shapes and dtypes (benchmarks, machines without TensorFlow)."""

  @abc.abstractmethod
  def loss_and_metrics(self, params, batch, rng):
    """-> (scalar loss, {name: scalar}) for one training batch; `rng` drives dropout."""

  @abc.abstractmethod
  def eval_sums(self, params, batch):
    """-> {name: (sum, count)} for one batch; the trainer reports sum(sums) / sum(counts)."""

  def summarize_eval(self, means: dict[str, float]) -> dict[str, float]:
    """Metrics derived from the means (e.g. perplexity from the loss)."""
    return means
