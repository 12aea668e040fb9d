"""k-nearest-neighbour classification of frozen features (cosine similarity), DINO style.

For every test example the `max(ks)` most similar training examples are found once; each K then
votes over its first K of them in two ways:

- majority: the most frequent label. Ties go to the tied class whose nearest member ranks first
  (so K=2 with two different labels predicts the nearest neighbour's label).
- weighted: each neighbour votes with weight exp(similarity / temperature) (DINO, T=0.07);
  `temperature=None` votes with the cosine similarity itself. Exact ties go to the lower class id.

Neighbours with equal similarity are ordered by training index. The training set (the gallery)
goes through in chunks (chunks.Chunks: a device-sharded array, or chunks read or made one at a
time), so memory is bounded by one chunk, not the gallery: each device scores the test examples
against its rows of a chunk, `batch_size` test examples at a time ([batch_size, chunk rows /
devices] similarities), and merges them into its running top-max(K) with `lax.top_k`; at the end
the devices' lists are merged by (similarity, training index).
"""
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from big_uni import numerics, sharding
from big_uni.evaluators import chunks as chunks_lib

DINO_TEMPERATURE = 0.07
_NO_INDEX = np.iinfo(np.int32).max  # Index of the empty slots of a running top-K.


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


def _merge_chunk(top, queries, features, labels, valid, chunk, first_index, *, k, batch_size,
                 axes):
  """One device: its rows of chunk `chunk` merged into its running top-k.

  top: (similarities float32 [1, M, k], indices int32, labels int32), nearest first, ties by
  index; queries [M, D] unit rows; features [chunks, r, D], labels, valid [chunks, r]: this
  device's r rows of every chunk; first_index: the training index of the chunk's first row.
  """
  rows = numerics.l2_normalize(features[chunk])
  rows_per_device = rows.shape[0]
  indices = first_index + jax.lax.axis_index(axes) * rows_per_device + jnp.arange(
      rows_per_device, dtype=jnp.int32)

  def one_query(args):
    query, top_similarities, top_indices, top_labels = args
    # HIGHEST: TPUs and GPUs would otherwise round the operands to bfloat16 and reorder neighbours.
    similarities = jnp.where(valid[chunk], jnp.dot(rows, query,
                                                   precision=jax.lax.Precision.HIGHEST), -jnp.inf)
    # The running list comes first and holds only lower indices: top_k keeps ties in order.
    values, positions = jax.lax.top_k(jnp.concatenate([top_similarities, similarities]), k)
    kept, new = jnp.minimum(positions, k - 1), jnp.maximum(positions - k, 0)
    return (values, jnp.where(positions < k, top_indices[kept], indices[new]),
            jnp.where(positions < k, top_labels[kept], labels[chunk][new]))

  merged = jax.lax.map(one_query, (queries, *(t[0] for t in top)),
                       batch_size=min(batch_size, queries.shape[0]))
  return tuple(m[None] for m in merged)


@functools.partial(jax.jit, static_argnames=('mesh', 'k', 'batch_size'))
def _merge(top, queries, features, labels, valid, chunk, first_index, mesh, k, batch_size):
  axes = sharding.batch_axes(mesh)
  per_device, rows = PartitionSpec(axes), PartitionSpec(None, axes)
  return jax.shard_map(
      functools.partial(_merge_chunk, k=k, batch_size=batch_size, axes=axes), mesh=mesh,
      in_specs=((per_device,) * 3, PartitionSpec(), rows, rows, rows, PartitionSpec(),
                PartitionSpec()),
      out_specs=(per_device,) * 3)(top, queries, features, labels, valid, chunk, first_index)


@functools.partial(jax.jit, static_argnames=('ks', 'num_classes', 'temperature', 'batch_size'))
def _predict(top, ks, num_classes, temperature, batch_size):
  """The devices' lists [devices, M, k] merged by (similarity, index), then every K's votes."""
  similarities, indices, labels = (jnp.swapaxes(t, 0, 1).reshape(t.shape[1], -1) for t in top)
  similarities, indices, labels = jax.lax.sort((-similarities, indices, labels), num_keys=2)
  k = max(ks)

  def one_query(args):
    return _votes(-args[0][:k], args[1][:k], ks, num_classes, temperature)

  return jax.lax.map(one_query, (similarities, labels), batch_size=min(batch_size,
                                                                        similarities.shape[0]))


def _queries(test_features) -> tuple[jax.Array, np.ndarray]:
  """(test features [M, D] unit rows, valid bool [M]) from an array or Chunks."""
  if isinstance(test_features, chunks_lib.Chunks):
    valid = np.concatenate([np.asarray(v) for v in test_features.valid])
    features = jnp.concatenate([jnp.asarray(f, jnp.float32) for f in test_features.features])
  else:
    features = jnp.asarray(test_features, jnp.float32)
    valid = np.ones(features.shape[0], bool)
  return numerics.l2_normalize(features), valid


def knn_predict(train_features, train_labels, test_features, ks=(1, 3, 5, 7, 11, 21),
                num_classes: int | None = None, temperature: float | None = DINO_TEMPERATURE,
                batch_size: int = 256, chunk_rows: int = 4096,
                mesh: Mesh | None = None) -> dict[int, dict[str, np.ndarray]]:
  """Predicted labels for every K.

  train_features [N, D] with train_labels [N] ints in [0, num_classes), or chunks.Chunks (then
  train_labels is None) of N valid rows; test_features [M, D] or Chunks of M valid rows. Arrays
  go through in chunks of `chunk_rows`. `mesh`: the devices the training rows are split over
  (their batch axes), by default those of a sharded jax.Array's features, else one device.
  Returns {K: {'majority': int32 [M], 'weighted': int32 [M]}}.
  """
  gallery = chunks_lib.as_chunks(train_features, train_labels, chunk_rows)
  ks = tuple(sorted({int(k) for k in ks}))
  num_train = sum(int(np.sum(v)) for v in gallery.valid)
  if not 1 <= ks[0] <= ks[-1] <= num_train:
    raise ValueError(f'ks={ks} must lie in [1, {num_train}] (the training set size)')
  if num_classes is None:
    num_classes = max(int(np.max(np.where(v, y, 0))) for y, v in zip(gallery.labels,
                                                                       gallery.valid)) + 1
  on_device = isinstance(gallery.features, jax.Array)
  if mesh is None:
    placement = getattr(gallery.features, 'sharding', None)
    mesh = (placement.mesh if isinstance(placement, NamedSharding)
            else sharding.one_device_mesh())
  axes = sharding.batch_axes(mesh)
  devices = int(np.prod([mesh.shape[a] for a in axes]))
  queries, test_valid = _queries(test_features)
  per_device = NamedSharding(mesh, PartitionSpec(axes))
  top = tuple(jax.device_put(np.full((devices, queries.shape[0], ks[-1]), fill, dtype), per_device)
              for fill, dtype in ((-np.inf, np.float32), (_NO_INDEX, np.int32), (0, np.int32)))
  rows = NamedSharding(mesh, PartitionSpec(None, axes))

  def put(x, dtype):
    return jax.device_put(np.asarray(x, dtype), rows)

  if on_device:  # Labels and masks go to the devices once; each step picks its chunk there.
    labels, valid = put(gallery.labels, np.int32), put(gallery.valid, bool)
  for chunk in range(gallery.num_chunks):
    first_index = np.int32(chunk * gallery.rows)
    if on_device:
      args = (gallery.features, labels, valid, np.int32(chunk))
    else:
      args = (put(np.asarray(gallery.features[chunk])[None], np.float32),
              put(np.asarray(gallery.labels[chunk])[None], np.int32),
              put(np.asarray(gallery.valid[chunk])[None], bool), np.int32(0))
    top = _merge(top, queries, *args, first_index, mesh, ks[-1], batch_size)
  majority, weighted = jax.device_get(_predict(top, ks, num_classes, temperature, batch_size))
  majority, weighted = majority[test_valid], weighted[test_valid]  # [M, len(ks)]
  return {k: {'majority': majority[:, i], 'weighted': weighted[:, i]} for i, k in enumerate(ks)}


def knn_accuracy(train_features, train_labels, test_features, test_labels=None,
                 ks=(1, 3, 5, 7, 11, 21), num_classes: int | None = None,
                 temperature: float | None = DINO_TEMPERATURE, batch_size: int = 256,
                 chunk_rows: int = 4096, mesh: Mesh | None = None) -> dict[str, float]:
  """Test accuracy of both votes for every K (shapes and options as in `knn_predict`; Chunks
  of test features carry their labels, then test_labels is None).

  Returns {'knn_<K>_accuracy': majority vote, 'knn_<K>_weighted_accuracy': weighted vote, ...}.
  """
  if isinstance(test_features, chunks_lib.Chunks):
    test_labels = np.concatenate([np.asarray(y)[np.asarray(v)] for y, v in
                                  zip(test_features.labels, test_features.valid)])
  test_labels = np.asarray(test_labels)
  predictions = knn_predict(train_features, train_labels, test_features, ks, num_classes,
                            temperature, batch_size, chunk_rows, mesh)
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
