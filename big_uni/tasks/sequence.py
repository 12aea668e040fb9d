"""What every text-writing task shares: next-token cross-entropy over the real targets, and the
task around it (NextTokenTask: the causal LM, translation, captioning)."""
import abc
import functools
import math

import jax
import jax.numpy as jnp

from big_uni.models import build_model
from big_uni.tasks import base


def position_weights(position_mask, batch):
  """float32 [B, L]: `position_mask` bool [B, L] (the positions a loss reads), zeroed on the
  padding rows of an eval batch (its 'mask' bool [B])."""
  weights = position_mask.astype(jnp.float32)
  if 'mask' in batch:
    weights = weights * batch['mask'][:, None]
  return weights


def next_token_sums(logits, targets, weights, label_smoothing: float = 0.0) -> dict:
  """logits [B, T, V] predicting targets int [B, T], where weights float [B, T] (1 on real
  targets) -> {'loss': (sum, count), 'accuracy': (sum, count)}.

  With label smoothing e the target distribution is (1 - e) one-hot + e uniform, as
  optax.smooth_labels makes it (Szegedy et al. 2016; the Transformer's 0.1), written without a
  [B, T, V] one-hot: (1 - e) NLL + e mean(-log p).
  """
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
  nll = -jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  loss = nll if not label_smoothing else (
      (1.0 - label_smoothing) * nll - label_smoothing * log_probs.mean(-1))
  count = weights.sum()
  return {'loss': ((loss * weights).sum(), count),
          'accuracy': (((logits.argmax(-1) == targets) * weights).sum(), count)}


class NextTokenTask(base.RowSumTask):
  """A task whose model writes tokens: each row of `batch[tokens_field]` is predicted token by
  token from the tokens before it (the causal LM's, the decoder's targets), over the positions
  where `batch[mask_field]` is True. Its loss is the mean cross-entropy of those predictions
  (their count is the weight, so gradient accumulation adds micro-batches up to the whole
  batch's mean exactly), with config.label_smoothing in training and none in evaluation, where
  perplexity is exp(loss)."""
  tokens_field: str
  mask_field: str

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    # The bound of the token ids (batch_fields' `high`): the model's vocabulary size.
    self.vocab_size = self.batch_spec[self.tokens_field].high
    self.label_smoothing = config.label_smoothing
    self.tokenizer_config = config.input.tokenizer

  @functools.cached_property
  def tokenizer(self):
    """The input's tokenizer: its [CLS] starts what a decoder writes, its [SEP] ends it."""
    from input_pipeline import tokenizers  # pylint: disable=g-import-not-at-top
    return tokenizers.build_tokenizer(self.tokenizer_config)

  @abc.abstractmethod
  def next_token_logits(self, params, batch, train: bool, rng=None):
    """Logits [B, T - 1, V] predicting batch[tokens_field][:, 1:] (T: its length)."""

  def _target_weights(self, batch):
    """float32 [B, T - 1]: 1 where the next token is real (and its row too, in eval)."""
    return position_weights(batch[self.mask_field][:, 1:], batch)

  def _sums(self, params, batch, train, rng=None):
    return next_token_sums(self.next_token_logits(params, batch, train, rng),
                           batch[self.tokens_field][:, 1:], self._target_weights(batch),
                           self.label_smoothing if train else 0.0)

  def train_sums(self, params, batch, rng):
    sums = self._sums(params, batch, train=True, rng=rng)
    return {'loss': sums['loss'], 'train_accuracy': sums['accuracy']}

  def loss_weights(self, batch):
    return {'loss': self._target_weights(batch).sum()}

  def eval_sums(self, params, batch):
    return self._sums(params, batch, train=False)

  def summarize_eval(self, means):
    return {**means, 'perplexity': math.exp(min(means['loss'], 700.0))}  # exp(>709) overflows.
