"""big_uni.numerics: the helpers that tasks, evaluators and analysis share."""
import jax
import jax.numpy as jnp
import numpy as np

from big_uni import numerics


def test_l2_normalize_scales_rows_keeps_zero_rows_and_numpy_on_the_host():
  x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
  on_host, on_device = numerics.l2_normalize(x), numerics.l2_normalize(jnp.asarray(x))
  assert isinstance(on_host, np.ndarray) and isinstance(on_device, jax.Array)
  for y in (on_host, on_device):
    np.testing.assert_allclose(np.asarray(y), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_top_k_hits_are_a_stable_argsorts_first_k():
  # Logits drawn from a few values, so that most rows have ties across the k-th place.
  rng = np.random.default_rng(0)
  logits = rng.integers(0, 3, (200, 7)).astype(np.float32)
  labels = rng.integers(0, 7, 200)
  for k in (1, 3, 5, 9):
    expected = (np.argsort(-logits, axis=-1, kind='stable')[:, :k] == labels[:, None]).any(-1)
    np.testing.assert_array_equal(np.asarray(numerics.top_k_hits(logits, labels, k)), expected)
