"""Baselines for configs/ft_transformer.py: a tuned linear model and gradient-boosted trees on
the same splits and preprocessing (input_pipeline/tabular.py), over several split seeds.

  linear  logistic regression (classes) or ridge (regression) on the quantile-transformed
          numeric columns and one-hot categorical columns; C or alpha chosen on validation
  gbdt    scikit-learn's HistGradientBoosting with the categorical columns as categories;
          learning rate and leaves chosen on validation, up to 1,000 trees with early stopping
          on an internal 10% of the training split

Prints key=value lines: per dataset and model, the test metric (accuracy, or RMSE in target
standard deviations) of each split seed, their mean and std.

  python -m benchmarks.tabular_baselines --datasets=breast_cancer,wine,diabetes,fair_affairs
"""
import itertools

from absl import app, flags
import numpy as np
from sklearn import ensemble, linear_model, preprocessing
import threadpoolctl

from input_pipeline import tables, tabular

_DATASETS = flags.DEFINE_list('datasets', list(tables.LOADERS),
                              'Tables (input_pipeline/tables.py).')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Split seeds 0 .. seeds - 1.')
# HistGradientBoosting's OpenMP threads spin-wait: on a loaded 2-core machine its default (one a
# core) made wine take over 10 minutes instead of 13 s with one thread.
_THREADS = flags.DEFINE_integer('threads', 1, 'OpenMP threads of the tree models.')

LINEAR_GRID = np.logspace(-3, 3, 13)  # C of the logistic regression, alpha of the ridge.
GBDT_GRID = list(itertools.product((0.03, 0.1), (7, 31)))  # (learning rate, max leaf nodes).


def score(model, split: tabular.Split, features, classes: bool) -> float:
  """Accuracy, or the RMSE of the standardized target, of `model` on `split`."""
  predicted = model.predict(features(split))
  if classes:
    return float((predicted == split.label).mean())
  return float(np.sqrt(((predicted - split.label)**2).mean()))


def linear(splits: dict[str, tabular.Split], classes: bool) -> float:
  features = lambda s: s.numeric
  if splits['train'].categorical.shape[1]:  # The encoder refuses a table without such columns.
    one_hot = preprocessing.OneHotEncoder(handle_unknown='ignore', sparse_output=False).fit(
        splits['train'].categorical)
    features = lambda s: np.concatenate([s.numeric, one_hot.transform(s.categorical)], axis=1)
  make = ((lambda v: linear_model.LogisticRegression(C=v, max_iter=5000)) if classes else
          (lambda v: linear_model.Ridge(alpha=v)))
  return _tuned([make(v) for v in LINEAR_GRID], splits, features, classes)


def gbdt(splits: dict[str, tabular.Split], classes: bool, seed: int) -> float:
  n_num = splits['train'].numeric.shape[1]
  n_cat = splits['train'].categorical.shape[1]
  features = lambda s: np.concatenate([s.numeric, s.categorical], axis=1)
  kind = (ensemble.HistGradientBoostingClassifier if classes else
          ensemble.HistGradientBoostingRegressor)
  categorical = [False] * n_num + [True] * n_cat
  models = [kind(learning_rate=lr, max_leaf_nodes=leaves, max_iter=1000, early_stopping=True,
                 validation_fraction=0.1, categorical_features=categorical, random_state=seed)
            for lr, leaves in GBDT_GRID]
  return _tuned(models, splits, features, classes)


def _tuned(models, splits, features, classes: bool) -> float:
  """The test score of the model best on validation (accuracy up, RMSE down)."""
  best, best_validation = None, None
  for model in models:
    model.fit(features(splits['train']), splits['train'].label)
    validation = score(model, splits['validation'], features, classes)
    validation = validation if classes else -validation
    if best_validation is None or validation > best_validation:
      best, best_validation = model, validation
  return score(best, splits['test'], features, classes)


def main(argv):
  del argv
  threadpoolctl.threadpool_limits(_THREADS.value, user_api='openmp')
  for name in _DATASETS.value:
    table = tables.load(name)
    classes = table.class_names is not None
    results = {'linear': [], 'gbdt': []}
    for seed in range(_SEEDS.value):
      splits = tabular.prepare(table, seed)
      results['linear'].append(linear(splits, classes))
      results['gbdt'].append(gbdt(splits, classes, seed))
    metric = 'test_accuracy' if classes else 'test_rmse'
    for model, values in results.items():
      print(f'dataset={name} model={model} {metric}_mean={np.mean(values):.4f} '
            f'{metric}_std={np.std(values):.4f} seeds={",".join(f"{v:.4f}" for v in values)}')


if __name__ == '__main__':
  app.run(main)
