"""Tabular batches (input.kind='tabular'): numeric and categorical columns of one table.

Numpy and scikit-learn only. As Gorishniy et al. 2021 prepare their tables: 20% of the rows are
the test split, 20% of the rest the validation split, the remaining 64% the training split (a
permutation seeded by input.split_seed); numeric columns go through a quantile transform to a
normal distribution fitted on the training split (n_quantiles = N_train // 30 clipped to [10,
1000], and fitted to the training rows plus their noise, 1e-3 / max(std, 1e-3) normal per
column, which breaks ties: without it a binary column maps to +-5.2); regression targets are
standardized by the training split's mean and std. The batch at step s is a pure function of
(seed, s) (sampling.py), so restarts are exact.

input_config fields: dataset (tables.py: breast_cancer, wine, diabetes, fair_affairs),
train_split, eval_split ('train', 'validation', 'test'), split_seed.
"""
import dataclasses

import numpy as np

from input_pipeline import config_schema, errors, sampling, tables

SPLITS = ('train', 'validation', 'test')
_PREPARED = {}  # (dataset, split_seed) -> {split: Split}.


@dataclasses.dataclass(frozen=True)
class Split:
  """The rows of one split, ready for a model."""
  numeric: np.ndarray  # float32 [N, n_num], quantile-transformed.
  categorical: np.ndarray  # int32 [N, n_cat]
  label: np.ndarray  # int32 [N] (classes) or float32 [N] (standardized regression targets).


def split_indices(size: int, split_seed: int) -> dict[str, np.ndarray]:
  """Sorted row indices of each split: 20% test, 16% validation, 64% train."""
  order = np.random.default_rng(split_seed).permutation(size)
  test = int(round(0.2 * size))
  validation = int(round(0.2 * (size - test)))
  parts = order[:test], order[test:test + validation], order[test + validation:]
  return {name: np.sort(part) for name, part in zip(('test', 'validation', 'train'), parts)}


def prepare(table: tables.Table, split_seed: int) -> dict[str, Split]:
  """`table` split, its numeric columns quantile-transformed and (regression) its targets
  standardized, every transform fitted on the training split alone."""
  from sklearn import preprocessing  # pylint: disable=g-import-not-at-top
  indices = split_indices(len(table.labels), split_seed)
  train = indices['train']
  numeric = np.zeros_like(table.numeric, np.float32)
  if table.numeric.shape[1]:
    fitted = table.numeric[train]
    noise = 1e-3 / np.maximum(fitted.std(axis=0), 1e-3)
    fitted = fitted + noise * np.random.default_rng(split_seed).standard_normal(fitted.shape)
    quantiles = preprocessing.QuantileTransformer(
        n_quantiles=max(min(len(train) // 30, 1000), 10), output_distribution='normal',
        subsample=None, random_state=split_seed).fit(fitted)
    numeric = quantiles.transform(table.numeric).astype(np.float32)
  labels = table.labels
  if table.class_names is None:
    labels = ((labels - labels[train].mean()) / labels[train].std()).astype(np.float32)
  return {name: Split(numeric[rows], table.categorical[rows], labels[rows])
          for name, rows in indices.items()}


def prepared(input_config) -> dict[str, Split]:
  """The splits of input.dataset, prepared once per process."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  key = (input_config.dataset, input_config.split_seed)
  if key not in _PREPARED:
    _PREPARED[key] = prepare(tables.load(input_config.dataset), input_config.split_seed)
  return _PREPARED[key]


def _split(input_config, split: str) -> Split:
  if split not in SPLITS:
    raise errors.UserInputError(f'tabular split {split!r}: use one of {SPLITS}')
  return prepared(input_config)[split]


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's rows of each global batch (B = global_batch_size // process_count):
  numeric float32 [B, n_num], categorical int32 [B, n_cat], label int32 or float32 [B].

  train=True: endless (or `num_steps` batches) from `start_step`, epoch e a permutation seeded
    by (seed, e). train=False: one ordered pass, padded, with a 'mask' bool [B].
  """
  data = _split(input_config, split)
  return sampling.batches(
      len(data.label), lambda rows: {'numeric': data.numeric[rows],
                                     'categorical': data.categorical[rows],
                                     'label': data.label[rows]},
      train=train, seed=seed, start_step=start_step, num_steps=num_steps,
      global_batch_size=global_batch_size, process_index=process_index,
      process_count=process_count)


def num_examples(input_config, split: str) -> int:
  return len(_split(input_config, split).label)


def class_names(input_config) -> list[str] | None:
  names = tables.load(config_schema.completed(input_config, config_schema.INPUT).dataset
                      ).class_names
  return None if names is None else list(names)
