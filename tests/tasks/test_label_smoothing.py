"""Label-smoothed cross-entropy without a one-hot: optax's smoothed targets, and its minimum."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from big_uni.tasks.label_smoothing import smoothed_cross_entropy

_V = 11


def _batch():
  logits = jax.random.normal(jax.random.key(0), (3, 5, _V)) * 3
  labels = jax.random.randint(jax.random.key(1), (3, 5), 0, _V)
  return logits, labels


def test_it_is_the_cross_entropy_against_optax_smoothed_labels():
  logits, labels = _batch()
  for smoothing in (0.0, 0.1, 0.5):
    targets = optax.smooth_labels(jax.nn.one_hot(labels, _V), smoothing)
    np.testing.assert_allclose(smoothed_cross_entropy(logits, labels, smoothing),
                               optax.softmax_cross_entropy(logits, targets), rtol=1e-5)
  np.testing.assert_allclose(smoothed_cross_entropy(logits, labels, 0.0),
                             optax.softmax_cross_entropy_with_integer_labels(logits, labels),
                             rtol=1e-6)


def test_its_minimum_is_the_smoothed_targets_entropy():
  # 0.1 of smoothing over 11 classes: the label 0.9 + 0.1 / 11, every other class 0.1 / 11.
  label, other = 0.9 + 0.1 / _V, 0.1 / _V
  best = jnp.log(jnp.array([label] + [other] * (_V - 1)))
  loss = lambda logits: smoothed_cross_entropy(logits, jnp.array(0), 0.1)
  entropy = -(label * np.log(label) + (_V - 1) * other * np.log(other))
  np.testing.assert_allclose(loss(best), entropy, rtol=1e-6)
  np.testing.assert_allclose(jax.grad(loss)(best), 0.0, atol=1e-6)
  assert loss(best.at[0].add(1.0)) > loss(best)  # Surer of the label is worse.


def test_bfloat16_logits_are_scored_in_float32():
  logits, labels = _batch()
  loss = smoothed_cross_entropy(logits.astype(jnp.bfloat16), labels, 0.1)
  assert loss.dtype == jnp.float32 and loss.shape == (3, 5)
