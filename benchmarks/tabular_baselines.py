"""configs/ft_transformer.py and its baselines, a tuned linear model and gradient-boosted trees, on
the same splits and preprocessing (input_pipeline/tabular.py), over several split seeds.

  linear  logistic regression (classes) or ridge (regression) on the quantile-transformed
          numeric columns and one-hot categorical columns; C or alpha chosen on validation
  gbdt    scikit-learn's HistGradientBoosting with the categorical columns as categories;
          learning rate and leaves chosen on validation, up to 1,000 trees with early stopping
          on an internal 10% of the training split
  ft_transformer  configs/ft_transformer.py:<dataset> with input.split_seed set, trained by the
          one trainer (big_uni/train.py) in <ft_workdir>/<dataset>/split_seed<s>: a finished run
          there is read back, not trained again, an interrupted one resumes. The config evaluates
          validation and test once an epoch; the paper's protocol (Gorishniy et al. 2021) is
          then read off metrics.jsonl: the test metric at the best validation evaluation
          (accuracy, or RMSE) before PATIENCE evaluations in a row fail to improve on it, which
          is where its early stopping ends. ft_transformer_last is the same runs' last step.

Prints key=value lines: per dataset and model, the test metric (accuracy, or RMSE in target
standard deviations) of each split seed, their mean and std (and, for ft_transformer, the step
chosen on each seed's validation split).

  python -m benchmarks.tabular_baselines --datasets=breast_cancer,wine,diabetes,fair_affairs
  python -m benchmarks.tabular_baselines --models=ft_transformer --ft_workdir=/tmp/tabular_ft
"""
import itertools
import json
import pathlib

from absl import app, flags
import numpy as np
from sklearn import ensemble, linear_model, preprocessing
import threadpoolctl

from big_uni import xla_flags
from input_pipeline import tables, tabular

xla_flags.set_defaults()  # Before JAX starts (ft_transformer trains in this process).

_DATASETS = flags.DEFINE_list('datasets', list(tables.LOADERS),
                              'Tables (input_pipeline/tables.py).')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Split seeds 0 .. seeds - 1.')
_MODELS = flags.DEFINE_list('models', ['linear', 'gbdt'], 'Of linear, gbdt, ft_transformer.')
_FT_WORKDIR = flags.DEFINE_string('ft_workdir', '/tmp/tabular_ft',
                                  'ft_transformer: the root of its runs\' workdirs.')
_FT_VARIANT = flags.DEFINE_string('ft_variant', '', 'ft_transformer: more of the config\'s '
                                  'variant argument (configs/ft_transformer.py), e.g. smoke.')
# HistGradientBoosting's OpenMP threads spin-wait: on a loaded 2-core machine its default (one a
# core) made wine take over 10 minutes instead of 13 s with one thread.
_THREADS = flags.DEFINE_integer('threads', 1, 'OpenMP threads of the tree models.')

LINEAR_GRID = np.logspace(-3, 3, 13)  # C of the logistic regression, alpha of the ridge.
GBDT_GRID = list(itertools.product((0.03, 0.1), (7, 31)))  # (learning rate, max leaf nodes).
PATIENCE = 16  # The paper's early stopping: evaluations (epochs) without a better validation.


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


def ft_transformer(name: str, seed: int, classes: bool) -> tuple[float, float, int]:
  """(the test metric at the step early stopping picks, the test metric at the last step, the
  step picked) of configs/ft_transformer.py:<name> on split seed `seed`."""
  # JAX and the trainer only here: the baselines alone stay a scikit-learn script.
  from big_uni import train  # pylint: disable=g-import-not-at-top
  from configs import ft_transformer as ft_config  # pylint: disable=g-import-not-at-top
  config = ft_config.get_config(','.join(filter(None, (name, _FT_VARIANT.value))))
  config.input.split_seed = seed
  workdir = pathlib.Path(_FT_WORKDIR.value) / name / f'split_seed{seed}'
  train.train_and_evaluate(config, str(workdir))
  metric = 'accuracy' if classes else 'rmse'
  steps = evaluations(workdir / 'metrics.jsonl', metric)
  picked = early_stopped(steps, metric, higher_is_better=classes, patience=PATIENCE)
  last = max(steps)
  return steps[picked][f'test_{metric}'], steps[last][f'test_{metric}'], picked


def evaluations(path: pathlib.Path, metric: str) -> dict[int, dict[str, float]]:
  """{step: its metrics} of the steps where a metrics.jsonl holds validation_<metric>."""
  by_step = {}
  for line in path.read_text().splitlines():
    row = json.loads(line)
    by_step.setdefault(row.pop('step'), {}).update(row)
  return {step: row for step, row in sorted(by_step.items()) if f'validation_{metric}' in row}


def early_stopped(steps: dict[int, dict[str, float]], metric: str, higher_is_better: bool,
                  patience: int) -> int:
  """The step the paper's early stopping keeps: the best validation_<metric> so far (the first
  of equals), the evaluations in step order ending once more than `patience` in a row fail to
  improve on it (as its code's zero.ProgressTracker), or at the last."""
  sign = 1 if higher_is_better else -1
  best_step, best, fails = None, None, 0
  for step, row in steps.items():
    score = sign * row[f'validation_{metric}']
    if best is None or score > best:
      best_step, best, fails = step, score, 0
    else:
      fails += 1
      if fails > patience:
        break
  return best_step


def results_of(name: str, models: list[str]) -> dict[str, list]:
  """{model: [its test metric of each split seed]} on table `name`, and for ft_transformer
  also ft_transformer_last and ft_transformer_steps (the steps picked)."""
  table = tables.load(name)
  classes = table.class_names is not None
  results = {}
  for seed in range(_SEEDS.value):
    splits = tabular.prepare(table, seed) if {'linear', 'gbdt'} & set(models) else None
    # The tree models' thread limit only: XLA's threads train the FT-Transformer.
    with threadpoolctl.threadpool_limits(_THREADS.value, user_api='openmp'):
      if 'linear' in models:
        results.setdefault('linear', []).append(linear(splits, classes))
      if 'gbdt' in models:
        results.setdefault('gbdt', []).append(gbdt(splits, classes, seed))
    if 'ft_transformer' in models:
      picked, last, step = ft_transformer(name, seed, classes)
      results.setdefault('ft_transformer', []).append(picked)
      results.setdefault('ft_transformer_last', []).append(last)
      results.setdefault('ft_transformer_steps', []).append(step)
  return results


def main(argv):
  del argv
  unknown = set(_MODELS.value) - {'linear', 'gbdt', 'ft_transformer'}
  if unknown:
    raise app.UsageError(f'unknown --models {sorted(unknown)}: use linear, gbdt, ft_transformer')
  for name in _DATASETS.value:
    results = results_of(name, _MODELS.value)
    metric = 'test_accuracy' if tables.load(name).class_names is not None else 'test_rmse'
    steps = results.pop('ft_transformer_steps', None)
    for model, values in results.items():
      chosen = f' steps={",".join(map(str, steps))}' if model == 'ft_transformer' else ''
      print(f'dataset={name} model={model} {metric}_mean={np.mean(values):.4f} '
            f'{metric}_std={np.std(values):.4f} seeds={",".join(f"{v:.4f}" for v in values)}'
            f'{chosen}', flush=True)


if __name__ == '__main__':
  app.run(main)
