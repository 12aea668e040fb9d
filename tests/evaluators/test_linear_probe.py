"""Linear probe: separable data, the C search in both directions, determinism, chunked and
memmapped features, agreement with sklearn, real digits."""
import warnings

import jax
import numpy as np
from sklearn import datasets, exceptions, linear_model

from big_uni.evaluators import chunks, linear_probe

EIGHTH_DECADE = 10.0 ** 0.125


def _gaussian_classes(num, seed, dim, shift, label_noise=0.0):
  """Two balanced classes at +-shift in every dimension; `label_noise` flips labels at random."""
  rng = np.random.default_rng(seed)
  labels = np.arange(num) % 2
  x = rng.standard_normal((num, dim)) + shift * (2 * labels - 1)[:, None]
  return x, np.where(rng.random(num) < label_noise, 1 - labels, labels)


def _cancelling_noise(num, seed):
  """Class signal hidden under noise that feature 1 repeats: only a large weight on x0 - x1
  separates the classes, so strong regularisation (the class means alone) is at chance."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, num)
  noise = 10.0 * rng.standard_normal(num)
  x = np.stack([0.5 * (2 * labels - 1) + noise, noise, rng.standard_normal(num)], axis=1)
  return x, labels


def _assert_refined_to_an_eighth_of_a_decade(results):
  evaluated = np.log10([c for c, _ in results['sweep']])
  best = np.log10(results['best_C'])
  for neighbour in (best - 0.125, best + 0.125):
    if -6 <= neighbour <= 6:
      assert np.isclose(evaluated, neighbour).any(), (neighbour, evaluated)


def test_separable_classes_are_classified_perfectly():
  rng = np.random.default_rng(0)
  centers = 5.0 * rng.standard_normal((10, 32))
  train_y, test_y = rng.integers(0, 10, 1000), rng.integers(0, 10, 300)
  train_x = centers[train_y] + rng.standard_normal((1000, 32))
  test_x = centers[test_y] + rng.standard_normal((300, 32))
  results = linear_probe.linear_probe(train_x, train_y, test_x, test_y)
  assert results['test_accuracy'] == 1.0 and results['test_top5_accuracy'] == 1.0
  assert results['validation_accuracy'] == 1.0
  values = [c for c, _ in results['sweep']]
  assert values == sorted(values) and values[0] == 1e-6 and values[-1] == 1e6
  _assert_refined_to_an_eighth_of_a_decade(results)


def test_noisy_labels_and_few_examples_call_for_strong_regularisation():
  train = _gaussian_classes(40, seed=1, dim=50, shift=0.3, label_noise=0.3)
  val = _gaussian_classes(1000, seed=2, dim=50, shift=0.3)
  test = _gaussian_classes(1000, seed=3, dim=50, shift=0.3)
  results = linear_probe.linear_probe(*train, *test, *val)
  sweep = dict(results['sweep'])
  assert results['best_C'] <= 1e-2
  assert results['validation_accuracy'] > sweep[1e6] + 0.1
  assert results['test_accuracy'] > 0.75
  _assert_refined_to_an_eighth_of_a_decade(results)


def test_cancelling_features_call_for_weak_regularisation():
  results = linear_probe.linear_probe(*_cancelling_noise(400, seed=1),
                                      *_cancelling_noise(1000, seed=2), val_fraction=0.5)
  assert results['best_C'] > 0.1
  assert max(accuracy for c, accuracy in results['sweep'] if c <= 0.1) < 0.6
  assert results['validation_accuracy'] > 0.95
  # Ties go to the smaller C: here the smallest of a plateau at 100% up to C = 1e6.
  assert results['best_C'] == min(c for c, accuracy in results['sweep']
                                  if accuracy == results['validation_accuracy'])
  assert results['sweep'][-1][1] == results['validation_accuracy']
  assert results['test_accuracy'] > 0.9
  assert 'test_top5_accuracy' not in results  # Two classes.
  _assert_refined_to_an_eighth_of_a_decade(results)


def test_explicit_validation_split_chooses_c():
  train, test = _cancelling_noise(400, seed=1), _cancelling_noise(1000, seed=2)
  val_x, val_y = _cancelling_noise(300, seed=3)
  results = linear_probe.linear_probe(*train, *test, val_x, val_y)
  # Flipped validation labels reward whichever C is worst: the chance-level strong end.
  flipped = linear_probe.linear_probe(*train, *test, val_x, 1 - val_y)
  assert results['best_C'] > 0.1 and flipped['best_C'] <= 0.1


def test_results_are_deterministic():
  x, y = _gaussian_classes(600, seed=1, dim=20, shift=0.2, label_noise=0.1)
  test = _gaussian_classes(200, seed=2, dim=20, shift=0.2)
  first = linear_probe.linear_probe(x, y, *test, max_sweep_examples=300, seed=3)
  assert linear_probe.linear_probe(x, y, *test, max_sweep_examples=300, seed=3) == first


def test_sklearn_digits_raw_pixels():
  x, y = datasets.load_digits(return_X_y=True)
  results = linear_probe.linear_probe(x[:1497], y[:1497], x[1497:], y[1497:])
  print(f'\ndigits linear probe (raw pixels, 1,497 train / 300 test): best C '
        f'{results["best_C"]:.3g}, validation {results["validation_accuracy"]:.4f}, test top-1 '
        f'{results["test_accuracy"]:.4f}, top-5 {results["test_top5_accuracy"]:.4f}')
  assert results['test_accuracy'] > 0.9


def _sklearn_probe(train_x, train_y, val_x, val_y, test_x, test_y):
  """The same protocol (explicit validation split, every row in the sweep) with sklearn's
  float64 LBFGS, as the probe ran before it moved to the devices."""
  mean = train_x.mean(axis=0)
  std = np.sqrt(np.mean((train_x - mean) ** 2))
  train_x, val_x, test_x = ((x - mean) / std for x in (train_x, val_x, test_x))

  def fit(x, y, log10_c):
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', exceptions.ConvergenceWarning)
      return linear_model.LogisticRegression(C=10.0 ** log10_c, max_iter=1000).fit(x, y)

  best_c, val_accuracy, sweep = linear_probe.search_c(
      lambda log10_c: fit(train_x, train_y, log10_c).score(val_x, val_y))
  model = fit(np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y]),
              np.log10(best_c))
  return best_c, val_accuracy, model.score(test_x, test_y), dict(sweep)


def test_agrees_with_sklearn_on_digits():
  x, y = datasets.load_digits(return_X_y=True)
  train, val, test = (x[:1197], y[:1197]), (x[1197:1497], y[1197:1497]), (x[1497:], y[1497:])
  results = linear_probe.linear_probe(*train, *test, *val, max_sweep_examples=None)
  best_c, val_accuracy, test_accuracy, sweep = _sklearn_probe(*train, *val, *test)
  print(f'\ndigits, devices (float32 L-BFGS): best C {results["best_C"]:.3g}, validation '
        f'{results["validation_accuracy"]:.4f}, test {results["test_accuracy"]:.4f}; sklearn: '
        f'best C {best_c:.3g}, validation {val_accuracy:.4f}, test {test_accuracy:.4f}')
  for c, accuracy in results['sweep']:
    if c in sweep:
      # At most 2 of the 300 validation images classified differently.
      assert round(abs(accuracy - sweep[c]) * 300) <= 2, (c, accuracy, sweep[c])
  assert round(abs(results['validation_accuracy'] - val_accuracy) * 300) <= 1
  # The validation accuracy plateaus near its best, so the two searches may stop apart on it.
  assert abs(np.log10(results['best_C']) - np.log10(best_c)) <= 1
  assert round(abs(results['test_accuracy'] - test_accuracy) * 300) <= 3


def test_memmapped_and_device_chunks_give_the_same_probe(tmp_path):
  x, y = _gaussian_classes(600, seed=1, dim=20, shift=0.2, label_noise=0.1)
  test = _gaussian_classes(200, seed=2, dim=20, shift=0.2)
  in_memory = chunks.from_arrays(x, y, rows=128)  # 5 chunks, the last one padded
  on_disk = np.lib.format.open_memmap(tmp_path / 'features.npy', 'w+', np.float32,
                                      in_memory.features.shape)
  on_disk[:] = in_memory.features
  on_device = jax.device_put(in_memory.features)
  first = linear_probe.linear_probe(in_memory, None, *test, max_sweep_examples=300)
  for features in (on_disk, on_device):
    assert linear_probe.linear_probe(in_memory._replace(features=features), None, *test,
                                     max_sweep_examples=300) == first
  assert first['test_accuracy'] > 0.75


def test_padding_rows_do_not_enter_the_fit():
  """Padding rows (valid False) are weighted 0, but 0 * NaN is NaN: BERT's features of an
  all-padding text row are NaN (attention over no tokens), which made every fit a no-op and the
  probe the majority class. Whatever padding rows hold, the probe is the same."""
  x, y = _gaussian_classes(600, seed=1, dim=20, shift=0.2, label_noise=0.1)
  test = _gaussian_classes(200, seed=2, dim=20, shift=0.2)
  padded = chunks.from_arrays(x, y, rows=128)  # 5 chunks, the last one padded
  assert not padded.valid.all()
  first = linear_probe.linear_probe(padded, None, *test, max_sweep_examples=300)
  nan_padding = np.where(padded.valid[..., None], padded.features, np.nan).astype(np.float32)
  assert linear_probe.linear_probe(padded._replace(features=nan_padding), None, *test,
                                   max_sweep_examples=300) == first
