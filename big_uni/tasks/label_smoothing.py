"""Cross-entropy against label-smoothed targets over a large vocabulary, without a one-hot.

optax.smooth_labels(one_hot(label, V), s) puts 1 - s + s / V on the label and s / V on every
other class; the cross-entropy against it is (1 - s) * -log p[label] + s * mean over v of
-log p[v], which needs no [..., V] one-hot of the targets (a translation batch's 64 x 100 x 37k
float32 one-hot would be 0.9 GB). As optax's, it is the cross-entropy itself: its minimum is the
entropy of the smoothed target, not 0 (the Transformer paper's label smoothing, 0.1, raises it to
~1.4 nats at 37k classes), so it is no perplexity.
"""
import jax
import jax.numpy as jnp


def smoothed_cross_entropy(logits, labels, smoothing: float):
  """float32 [...]: the cross-entropy of logits [..., V] against integer labels [...] smoothed
  by `smoothing` (optax.smooth_labels's), computed in float32."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
  label_log_probs = jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
  return -(1.0 - smoothing) * label_log_probs - smoothing * log_probs.mean(axis=-1)
