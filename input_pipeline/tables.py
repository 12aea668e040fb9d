"""Tabular datasets that install offline, as whole tables (tabular.py splits and preprocesses):

  breast_cancer  scikit-learn's bundled Wisconsin diagnostic table: 569 rows, 30 numeric
                 columns, binary (malignant, benign)
  wine           scikit-learn's bundled wine table: 178 rows, 13 numeric columns, 3 cultivars
  diabetes       scikit-learn's bundled diabetes table: 442 rows, 10 numeric columns (sex among
                 them, as sklearn scales it), regression of disease progression after a year
  fair_affairs   Fair's 1978 survey of 6,366 women, as the statsmodels wheel ships it
                 (datasets/fair/fair.csv): 6 numeric columns, occupation and husband's
                 occupation as categorical columns (6 codes each), binary: any time spent in
                 affairs (statsmodels' own logit example asks the same)
"""
import csv
import dataclasses

import numpy as np

from input_pipeline import errors, wheel_files

STATSMODELS_REQUIREMENT = 'statsmodels==0.15.0'
FAIR_FILE = 'statsmodels/datasets/fair/fair.csv'
FAIR_NUMERIC = ('rate_marriage', 'age', 'yrs_married', 'children', 'religious', 'educ')
FAIR_CATEGORICAL = ('occupation', 'occupation_husb')


@dataclasses.dataclass(frozen=True)
class Table:
  """N rows of a table. Categorical codes are each column's values numbered 0..K_j - 1 in
  sorted order over the whole table (the values a column takes, nothing of the labels)."""
  numeric: np.ndarray  # float64 [N, n_num]
  categorical: np.ndarray  # int32 [N, n_cat]
  labels: np.ndarray  # int32 [N] (classes) or float64 [N] (regression)
  class_names: tuple[str, ...] | None  # None: regression.
  category_sizes: tuple[int, ...]  # K_j of each categorical column.


def _sklearn(loader: str, classes: bool) -> Table:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  data = getattr(datasets, loader)()
  labels = data.target.astype(np.int32 if classes else np.float64)
  return Table(data.data.astype(np.float64), np.zeros((len(labels), 0), np.int32), labels,
               tuple(map(str, data.target_names)) if classes else None, ())


def _codes(column: np.ndarray) -> tuple[np.ndarray, int]:
  values, codes = np.unique(column, return_inverse=True)
  return codes.astype(np.int32), len(values)


def _fair_affairs() -> Table:
  with open(wheel_files.wheel_file(STATSMODELS_REQUIREMENT, FAIR_FILE), newline='') as f:
    rows = list(csv.DictReader(f))
  numeric = np.array([[float(r[c]) for c in FAIR_NUMERIC] for r in rows])
  coded = [_codes(np.array([int(float(r[c])) for r in rows])) for c in FAIR_CATEGORICAL]
  labels = np.array([float(r['affairs']) > 0 for r in rows], np.int32)
  return Table(numeric, np.stack([codes for codes, _ in coded], axis=1), labels,
               ('none', 'some'), tuple(size for _, size in coded))


LOADERS = {
    'breast_cancer': lambda: _sklearn('load_breast_cancer', classes=True),
    'wine': lambda: _sklearn('load_wine', classes=True),
    'diabetes': lambda: _sklearn('load_diabetes', classes=False),
    'fair_affairs': _fair_affairs,
}


def load(name: str) -> Table:
  if name not in LOADERS:
    raise errors.UserInputError(f'unknown tabular dataset {name!r}: use one of {sorted(LOADERS)}')
  return LOADERS[name]()
