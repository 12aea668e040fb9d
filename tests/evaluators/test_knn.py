"""kNN evaluator: known answers, both votes and their tie rules, a numpy reference, a chunked
and a device-sharded gallery, real digits."""
import numpy as np
import pytest
from sklearn import datasets

from big_uni.evaluators import knn
from tests.helpers import script_json
from tests.helpers.scripts import knn_devices


KS = (1, 3, 5, 7, 11, 21)


def _blobs(num_per_class, seed, num_classes=5, dim=16, spread=0.1):
  """Tight Gaussian blobs around fixed centers; `seed` draws the points."""
  centers = np.random.default_rng(0).standard_normal((num_classes, dim))
  labels = np.repeat(np.arange(num_classes), num_per_class)
  noise = np.random.default_rng(seed).standard_normal((len(labels), dim))
  return centers[labels] + spread * noise, labels


def _on_circle(degrees):
  """2-D unit vectors at these angles: cosine similarity to [1, 0] is cos(angle)."""
  radians = np.deg2rad(np.asarray(degrees, np.float64))
  return np.stack([np.cos(radians), np.sin(radians)], axis=-1)


def _reference(train_x, train_y, test_x, ks, num_classes, temperature):
  """Brute force: float64 similarities, stable sort, the documented vote and tie rules."""
  normalize = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  similarities = normalize(test_x) @ normalize(train_x).T
  predictions = {k: {'majority': [], 'weighted': []} for k in ks}
  for row in similarities:
    order = np.argsort(-row, kind='stable')
    for k in ks:
      labels, sims = train_y[order[:k]], row[order[:k]]
      counts = np.bincount(labels, minlength=num_classes)
      tied = np.flatnonzero(counts == counts.max())
      predictions[k]['majority'].append(next(label for label in labels if label in tied))
      weights = sims if temperature is None else np.exp((sims - sims[0]) / temperature)
      predictions[k]['weighted'].append(np.bincount(labels, weights, num_classes).argmax())
  return predictions


def test_separated_blobs_are_classified_perfectly():
  train_x, train_y = _blobs(40, seed=1)
  test_x, test_y = _blobs(20, seed=2)
  results = knn.knn_accuracy(train_x, train_y, test_x, test_y, ks=KS)
  assert set(results) == {f'knn_{k}_{vote}accuracy' for k in KS for vote in ('', 'weighted_')}
  assert min(results.values()) == 1.0


def test_random_labels_give_chance_accuracy():
  rng = np.random.default_rng(0)
  train_x, test_x = rng.standard_normal((2000, 32)), rng.standard_normal((1000, 32))
  train_y, test_y = rng.integers(0, 10, 2000), rng.integers(0, 10, 1000)
  results = knn.knn_accuracy(train_x, train_y, test_x, test_y, ks=KS)
  for value in results.values():
    assert 0.05 < value < 0.15  # chance is 0.1; 1,000 test examples: standard error ~0.01


def test_one_neighbour_on_the_training_set_itself_is_perfect():
  rng = np.random.default_rng(0)
  x, y = rng.standard_normal((300, 8)), rng.integers(0, 7, 300)
  results = knn.knn_accuracy(x, y, x, y, ks=(1,))
  assert results == {'knn_1_accuracy': 1.0, 'knn_1_weighted_accuracy': 1.0}


def test_votes_differ_where_one_near_neighbour_outweighs_two_far_ones():
  # One label-0 neighbour at similarity 0.9, two label-1 neighbours at 0.6.
  angles = np.rad2deg(np.arccos([0.9, 0.6, 0.6]))
  train_x, train_y = _on_circle(angles * [1, 1, -1]), np.array([0, 1, 1])
  test_x = _on_circle([0])
  dino = knn.knn_predict(train_x, train_y, test_x, ks=(3,))[3]
  cosine = knn.knn_predict(train_x, train_y, test_x, ks=(3,), temperature=None)[3]
  assert dino['majority'][0] == 1  # two votes to one
  assert dino['weighted'][0] == 0  # exp(0.9 / 0.07) > 2 exp(0.6 / 0.07)
  assert cosine['weighted'][0] == 1  # 0.9 < 0.6 + 0.6


def test_majority_ties_go_to_the_class_of_the_nearest_tied_neighbour():
  # Neighbours nearest first carry labels 3, 1, 1, 3, 2: K=2 and K=4 tie.
  train_x, train_y = _on_circle([5, 10, 15, 20, 25]), np.array([3, 1, 1, 3, 2])
  predictions = knn.knn_predict(train_x, train_y, _on_circle([0]), ks=(1, 2, 3, 4))
  assert [int(predictions[k]['majority'][0]) for k in (1, 2, 3, 4)] == [3, 3, 1, 3]


def test_batched_jax_matches_brute_force_numpy_for_every_k():
  rng = np.random.default_rng(0)
  # Few classes and small K make majority ties common, so the tie rule is exercised.
  train_x, train_y = rng.standard_normal((500, 24)) * 3.0, rng.integers(0, 3, 500)
  test_x = rng.standard_normal((103, 24))
  for temperature in (knn.DINO_TEMPERATURE, None):
    expected = _reference(train_x, train_y, test_x, KS, 3, temperature)
    got = knn.knn_predict(train_x, train_y, test_x, ks=KS, temperature=temperature, batch_size=16)
    unbatched = knn.knn_predict(train_x, train_y, test_x, ks=KS, temperature=temperature,
                                batch_size=103)
    for k in KS:
      for vote in ('majority', 'weighted'):
        np.testing.assert_array_equal(got[k][vote], expected[k][vote], err_msg=f'K={k} {vote}')
        np.testing.assert_array_equal(got[k][vote], unbatched[k][vote])


def test_k_larger_than_the_training_set_is_refused():
  x = np.eye(3)
  with pytest.raises(ValueError, match=r'ks=\(1, 5\) must lie in \[1, 3\]'):
    knn.knn_accuracy(x, [0, 1, 2], x, [0, 1, 2], ks=(1, 5))


def test_format_table_has_one_row_per_k():
  results = {'knn_1_accuracy': 0.9, 'knn_1_weighted_accuracy': 0.9,
             'knn_20_accuracy': 0.85, 'knn_20_weighted_accuracy': 0.875}
  assert knn.format_table(results).splitlines() == [
      '   K | majority | weighted',
      '   1 |   0.9000 |   0.9000',
      '  20 |   0.8500 |   0.8750']


def test_sklearn_digits_raw_pixels():
  x, y = datasets.load_digits(return_X_y=True)
  results = knn.knn_accuracy(x[:1497], y[:1497], x[1497:], y[1497:])
  print('\ndigits kNN (raw pixels, 1,497 train / 300 test):\n' + knn.format_table(results))
  assert results['knn_1_accuracy'] > 0.9
  assert min(results.values()) > 0.85


def test_chunked_gallery_gives_the_same_predictions_including_ties():
  train_x, train_y, test_x = knn_devices.tied_gallery()
  # Cosine weights are exact sums here; DINO's exp weights are compared with the whole gallery.
  expected = _reference(train_x, train_y, test_x, knn_devices.KS, 4, None)
  for temperature in (knn.DINO_TEMPERATURE, None):
    whole = knn.knn_predict(train_x, train_y, test_x, ks=knn_devices.KS, temperature=temperature)
    for rows in (1, 7, 64):
      got = knn.knn_predict(train_x, train_y, test_x, ks=knn_devices.KS,
                            temperature=temperature, chunk_rows=rows, batch_size=16)
      for k in knn_devices.KS:
        for vote in ('majority', 'weighted'):
          np.testing.assert_array_equal(got[k][vote], whole[k][vote], err_msg=f'{rows} {k}')
          if temperature is None or vote == 'majority':
            np.testing.assert_array_equal(got[k][vote], expected[k][vote])


def test_the_tied_gallery_needs_the_index_rule():
  # Ties broken towards the higher training index would change most 1-NN predictions.
  train_x, train_y, test_x = knn_devices.tied_gallery()
  lower_first = _reference(train_x, train_y, test_x, (1,), 4, None)[1]['majority']
  higher_first = _reference(train_x[::-1], train_y[::-1], test_x, (1,), 4, None)[1]['majority']
  assert np.mean(np.array(lower_first) != np.array(higher_first)) > 0.3


def test_gallery_sharded_over_8_devices_equals_one_device():
  results = script_json.run('tests/helpers/scripts/knn_devices.py')
  assert set(results) == {'single', 'data8', 'data8_host_chunks', 'data2_fsdp4',
                          'data2_fsdp4_host_chunks'}
  train_x, train_y, test_x = knn_devices.tied_gallery()
  expected = _reference(train_x, train_y, test_x, knn_devices.KS, 4, knn.DINO_TEMPERATURE)
  for name, predictions in results.items():
    for k in knn_devices.KS:
      assert predictions[str(k)] == results['single'][str(k)], (name, k)
      assert predictions[str(k)]['majority'] == list(expected[k]['majority']), (name, k)
