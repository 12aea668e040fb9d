"""What every text-writing task shares: next-token cross-entropy over the real targets, their
weights, perplexity."""
import math

import jax
import jax.numpy as jnp


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


def target_weights(token_mask, row_mask=None):
  """float32 [B, L - 1]: 1 where the next token of token_mask bool [B, L] is real (and its row,
  where an eval batch's row_mask bool [B] is given): the targets of teacher forcing."""
  weights = token_mask[:, 1:].astype(jnp.float32)
  return weights if row_mask is None else weights * row_mask[:, None]


def with_perplexity(means: dict) -> dict:
  """Eval means with 'perplexity', the exponential of their mean next-token 'loss'."""
  return {**means, 'perplexity': math.exp(min(means['loss'], 700.0))}  # exp(>709) overflows.
