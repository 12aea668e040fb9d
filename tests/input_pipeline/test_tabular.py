"""The tabular pipeline: fixed splits, transforms fitted on the training rows, exact restarts."""
import ml_collections
import numpy as np

import input_pipeline
from input_pipeline import tables, tabular
from tests.helpers import index_streams


def _config(dataset='wine'):
  return ml_collections.ConfigDict(dict(
      kind='tabular', dataset=dataset, train_split='train', eval_split='validation',
      batch_size=8))


def test_splits_partition_the_rows_and_depend_on_the_split_seed_alone():
  splits = tabular.split_indices(178, 0)
  assert [len(splits[s]) for s in ('train', 'validation', 'test')] == [114, 28, 36]
  assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(178))
  again, other = tabular.split_indices(178, 0), tabular.split_indices(178, 1)
  assert all((splits[s] == again[s]).all() for s in splits)
  assert not (splits['test'] == other['test']).all()


def test_numeric_columns_are_normal_on_train_and_regression_targets_standardized():
  train = tabular.prepare(tables.load('diabetes'), 0)['train']
  assert train.numeric.dtype == np.float32 and train.label.dtype == np.float32
  continuous = np.delete(train.numeric, 1, axis=1)
  assert np.abs(np.median(continuous, axis=0)).max() < 0.1
  sex = np.unique(train.numeric[:, 1])  # Two values: each at the middle of its half.
  assert len(sex) == 2 and -1 < sex[0] < 0 < sex[1] < 1
  np.testing.assert_allclose([train.label.mean(), train.label.std()], [0, 1], atol=1e-5)


def test_restarts_and_process_slices_reproduce_the_stream():
  assert index_streams.assert_restarts_and_slices_reproduce_the_stream(
      _config(), 'numeric') == 1.0


def test_eval_pass_pads_with_masked_rows():
  batches = list(input_pipeline.get_iterator(_config(), 'test', train=False,
                                             global_batch_size=16, seed=0))
  assert [b['mask'].sum() for b in batches] == [16, 16, 4]
  assert batches[-1]['numeric'].shape == (16, 13) and batches[-1]['categorical'].shape == (16, 0)
  assert input_pipeline.num_examples(_config(), 'test') == 36
