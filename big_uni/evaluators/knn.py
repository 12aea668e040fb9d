"""k-nearest-neighbour classification of frozen features (cosine similarity), DINO style.

For every test example the `max(ks)` most similar training examples are found once; each K then
votes over its first K of them in two ways:

- majority: the most frequent label. Ties go to the tied class whose nearest member ranks first
  (so K=2 with two different labels predicts the nearest neighbour's label).
- weighted: each neighbour votes with weight exp(similarity / temperature) (DINO, T=0.07);
  `temperature=None` votes with the cosine similarity itself. Exact ties go to the lower class id.

Neighbours with equal similarity are ordered by training index (`lax.top_k` keeps the lower
index first). The similarity matrix is never built whole: test examples go through in batches of
`batch_size`, each holding a [batch_size, N] block (batch_size * N * 4 bytes).
"""
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np

DINO_TEMPERATURE = 0.07


def l2_normalize(x: jax.Array) -> jax.Array:
  """Rows scaled to unit length; all-zero rows stay zero."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _votes(similarities, labels, ks, num_classes, temperature):
  """One example's predictions per K from its neighbours, nearest first.

  similarities, labels: [max_k]. Returns (majority [len(ks)], weighted [len(ks)]) int32.
  """
  max_k = similarities.shape[0]
  one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)  # [max_k, classes]
  counts = jnp.cumsum(one_hot, axis=0)  # Row K-1 counts the first K neighbours.
  # Lexicographic (count, earliest rank): counts step by max_k + 1, ranks add less than that.
  first_rank = jnp.where(one_hot > 0, jnp.arange(max_k)[:, None], max_k).min(axis=0)
  majority_scores = counts * (max_k + 1) + (max_k - first_rank)
  if temperature is None:
    weights = similarities
  else:
    # Shifting by the largest similarity scales all weights alike: same argmax, no overflow.
    weights = jnp.exp((similarities - similarities[0]) / temperature)
  weighted_scores = jnp.cumsum(one_hot * weights[:, None], axis=0)
  rows = jnp.array(ks) - 1
  return (majority_scores[rows].argmax(-1).astype(jnp.int32),
          weighted_scores[rows].argmax(-1).astype(jnp.int32))


@functools.partial(jax.jit, static_argnames=('ks', 'num_classes', 'temperature', 'batch_size'))
def _predict(train_features, train_labels, test_features, ks, num_classes, temperature,
             batch_size):
  train_features = l2_normalize(train_features)

  def one_example(x):
    # HIGHEST: TPUs and GPUs would otherwise round the operands to bfloat16 and reorder neighbours.
    similarities = jnp.dot(train_features, x, precision=jax.lax.Precision.HIGHEST)
    top_similarities, indices = jax.lax.top_k(similarities, max(ks))
    return _votes(top_similarities, train_labels[indices], ks, num_classes, temperature)

  return jax.lax.map(one_example, l2_normalize(test_features), batch_size=batch_size)


def knn_predict(train_features, train_labels, test_features, ks=(1, 3, 5, 7, 11, 21),
                num_classes: int | None = None, temperature: float | None = DINO_TEMPERATURE,
                batch_size: int = 256) -> dict[int, dict[str, np.ndarray]]:
  """Predicted labels for every K.

  train_features [N, D], train_labels [N] ints in [0, num_classes), test_features [M, D].
  Returns {K: {'majority': int32 [M], 'weighted': int32 [M]}}.
  """
  ks = tuple(sorted({int(k) for k in ks}))
  train_labels = np.asarray(train_labels)
  if not 1 <= ks[0] <= ks[-1] <= len(train_labels):
    raise ValueError(f'ks={ks} must lie in [1, {len(train_labels)}] (the training set size)')
  if num_classes is None:
    num_classes = int(train_labels.max()) + 1
  majority, weighted = _predict(
      jnp.asarray(train_features, jnp.float32), jnp.asarray(train_labels, jnp.int32),
      jnp.asarray(test_features, jnp.float32), ks, num_classes, temperature,
      min(batch_size, len(test_features)))
  majority, weighted = np.asarray(majority), np.asarray(weighted)  # [M, len(ks)]
  return {k: {'majority': majority[:, i], 'weighted': weighted[:, i]} for i, k in enumerate(ks)}


def knn_accuracy(train_features, train_labels, test_features, test_labels,
                 ks=(1, 3, 5, 7, 11, 21), num_classes: int | None = None,
                 temperature: float | None = DINO_TEMPERATURE,
                 batch_size: int = 256) -> dict[str, float]:
  """Test accuracy of both votes for every K (shapes and options as in `knn_predict`).

  Returns {'knn_<K>_accuracy': majority vote, 'knn_<K>_weighted_accuracy': weighted vote, ...}.
  """
  test_labels = np.asarray(test_labels)
  predictions = knn_predict(train_features, train_labels, test_features, ks, num_classes,
                            temperature, batch_size)
  results = {}
  for k, votes in predictions.items():
    results[f'knn_{k}_accuracy'] = float((votes['majority'] == test_labels).mean())
    results[f'knn_{k}_weighted_accuracy'] = float((votes['weighted'] == test_labels).mean())
  return results


def format_table(results: dict[str, float]) -> str:
  """`knn_accuracy`'s results as a text table, one row per K."""
  ks = sorted(int(m.group(1)) for key in results
              if (m := re.fullmatch(r'knn_(\d+)_accuracy', key)))
  lines = ['   K | majority | weighted']
  for k in ks:
    lines.append(f'{k:4d} | {results[f"knn_{k}_accuracy"]:8.4f} | '
                 f'{results[f"knn_{k}_weighted_accuracy"]:8.4f}')
  return '\n'.join(lines)
