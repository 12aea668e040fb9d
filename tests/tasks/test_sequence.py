"""The next-token loss text-writing tasks share: optax's label smoothing, without a one-hot."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from big_uni.tasks.sequence import next_token_sums

_V = 11


def _batch():
  logits = jax.random.normal(jax.random.key(0), (3, 5, _V)) * 3
  targets = jax.random.randint(jax.random.key(1), (3, 5), 0, _V)
  weights = jnp.ones((3, 5)).at[2, 3:].set(0.0)  # Row 2 ends after 3 targets.
  return logits, targets, weights


def test_label_smoothing_is_cross_entropy_against_optax_smoothed_labels():
  logits, targets, weights = _batch()
  for smoothing in (0.0, 0.1, 0.5):
    loss, count = next_token_sums(logits, targets, weights, smoothing)['loss']
    expected = optax.softmax_cross_entropy(
        logits, optax.smooth_labels(jax.nn.one_hot(targets, _V), smoothing))
    np.testing.assert_allclose(loss, (expected * weights).sum(), rtol=1e-5)
    assert count == 13


def test_the_smoothed_minimum_is_the_smoothed_targets_entropy():
  # 0.1 of smoothing over 11 classes: the target 0.9 + 0.1 / 11, every other class 0.1 / 11.
  target, other = 0.9 + 0.1 / _V, 0.1 / _V
  best = jnp.log(jnp.array([[[target] + [other] * (_V - 1)]]))
  loss = lambda logits: next_token_sums(logits, jnp.zeros((1, 1), jnp.int32), jnp.ones((1, 1)),
                                        0.1)['loss'][0]
  entropy = -(target * np.log(target) + (_V - 1) * other * np.log(other))
  np.testing.assert_allclose(loss(best), entropy, rtol=1e-6)
  np.testing.assert_allclose(jax.grad(loss)(best), 0.0, atol=1e-6)
  assert loss(best.at[0, 0, 0].add(1.0)) > loss(best)  # Surer of the target is worse.
