"""The interface between an objective and the one trainer."""
import abc

import numpy as np

from big_uni import errors


def check_vocab_size(config, vocab_size: int) -> None:
  """The tokenizer of `config.input` must have the model's vocabulary size."""
  from input_pipeline import tokenizers  # pylint: disable=g-import-not-at-top
  tokenizer_config = config.input.tokenizer
  tokenizer = tokenizers.build_tokenizer(tokenizer_config)
  source = tokenizer_config.path or f'trained on {tokenizer_config.train_corpus}'
  if tokenizer.vocab_size != vocab_size:
    raise errors.UserInputError(
        f'the tokenizer ({tokenizer_config.kind}, {source}) has {tokenizer.vocab_size} tokens '
        f'but the model has vocab_size={vocab_size}: set it to {tokenizer.vocab_size} or use '
        'the matching tokenizer')


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
