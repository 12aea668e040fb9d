"""Retrieval recall@K: known ranks, several captions per image, a brute-force numpy reference."""
import numpy as np
import pytest

from big_uni.evaluators import retrieval


def _reference(image_x, text_x, text_to_image, ks):
  """Brute force: full float64 similarity matrix, stable sort (lower index first on ties)."""
  normalize = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  similarities = normalize(image_x) @ normalize(text_x).T  # [N, T]
  image_ranks = [np.flatnonzero(text_to_image[np.argsort(-row, kind='stable')] == i)[0]
                 for i, row in enumerate(similarities)]
  text_ranks = [np.flatnonzero(np.argsort(-column, kind='stable') == text_to_image[t])[0]
                for t, column in enumerate(similarities.T)]
  results = {}
  for k in ks:
    results[f'image_to_text_recall_at_{k}'] = float(np.mean(np.array(image_ranks) < k))
    results[f'text_to_image_recall_at_{k}'] = float(np.mean(np.array(text_ranks) < k))
  return results


def test_identical_features_are_retrieved_first():
  features = np.random.default_rng(0).standard_normal((20, 8))
  results = retrieval.retrieval_recall(features, features, np.arange(20))
  assert results == {f'{direction}_recall_at_{k}': 1.0 for k in (1, 5, 10)
                     for direction in ('image_to_text', 'text_to_image')}


def test_known_ranks_give_known_recall_both_ways():
  ranks = [0, 0, 0, 1, 1, 2, 4, 5, 7, 9]
  gallery = np.eye(10)
  # Query t: weight 1 on its own item, 2 on `ranks[t]` others, so exactly those rank above it.
  queries = np.eye(10)
  for t, rank in enumerate(ranks):
    queries[t, [j for j in range(10) if j != t][:rank]] = 2.0
  expected = {1: 0.3, 5: 0.7, 10: 1.0}
  text_to_image = retrieval.retrieval_recall(gallery, queries, np.arange(10))
  image_to_text = retrieval.retrieval_recall(queries, gallery, np.arange(10))
  for k, recall in expected.items():
    assert text_to_image[f'text_to_image_recall_at_{k}'] == pytest.approx(recall)
    assert image_to_text[f'image_to_text_recall_at_{k}'] == pytest.approx(recall)


def test_an_image_is_retrieved_when_any_of_its_captions_is():
  images = np.eye(4)
  # Image 0's first caption points at image 1, its second at image 0 itself.
  captions = np.eye(4)[[1, 0, 2, 3, 2, 3]]
  text_to_image = np.array([0, 0, 1, 1, 2, 3])
  results = retrieval.retrieval_recall(images, captions, text_to_image, ks=(1, 2, 3))
  # Image ranks [0, 2, 1, 1]: image 1's captions score 0, behind caption 0 and (tie, lower
  # index) caption 1; images 2 and 3 each tie with another image's caption of lower index.
  # Caption ranks [1, 0, 2, 2, 0, 0].
  assert results == pytest.approx({
      'image_to_text_recall_at_1': 0.25, 'image_to_text_recall_at_2': 0.75,
      'image_to_text_recall_at_3': 1.0, 'text_to_image_recall_at_1': 0.5,
      'text_to_image_recall_at_2': 4 / 6, 'text_to_image_recall_at_3': 1.0})


def test_batched_jax_matches_brute_force_numpy():
  rng = np.random.default_rng(0)
  # Rows of different norms: only the direction may count.
  image_x = rng.standard_normal((37, 16)) * rng.uniform(0.1, 10.0, (37, 1))
  text_x = rng.standard_normal((100, 16)) * rng.uniform(0.1, 10.0, (100, 1))
  text_to_image = np.concatenate([rng.permutation(37), rng.integers(0, 37, 63)])
  ks = (1, 5, 10)
  expected = _reference(image_x, text_x, text_to_image, ks)
  assert retrieval.retrieval_recall(image_x, text_x, text_to_image, ks, batch_size=8) == expected
  assert 0.0 < expected['image_to_text_recall_at_5'] < 1.0  # The comparison is not trivial.


def test_an_image_without_a_caption_is_refused():
  with pytest.raises(ValueError, match='1 images have no caption'):
    retrieval.retrieval_recall(np.eye(3), np.eye(3)[:2], [0, 1])
