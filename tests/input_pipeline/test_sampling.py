"""sampling.py: which example fills each row, for every pipeline."""
import numpy as np
import pytest

from input_pipeline import sampling


def _indices(size, steps, **kwargs):
  return np.concatenate([r.indices for r in sampling.train_rows(size, 7, num_steps=steps,
                                                                **kwargs)])


def test_each_epoch_is_a_new_permutation_of_the_split():
  size = 1000  # Not a multiple of the batch: batches span the epochs' ends.
  order = _indices(size, 3 * size // 64 + 1, global_batch_size=64, process_index=0,
                   process_count=1)
  epochs = [order[e * size:(e + 1) * size] for e in range(3)]
  assert all(sorted(e) == list(range(size)) for e in epochs)
  assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])


def test_processes_split_the_global_batch_and_restarts_cost_nothing():
  one = list(sampling.train_rows(500, 3, global_batch_size=32, process_index=0,
                                 process_count=1, start_step=1_000_000, num_steps=2))
  parts = [list(sampling.train_rows(500, 3, global_batch_size=32, process_index=i,
                                    process_count=4, start_step=1_000_000, num_steps=2))
           for i in range(4)]
  for step in range(2):
    np.testing.assert_array_equal(np.concatenate([p[step].indices for p in parts]),
                                  one[step].indices)
    np.testing.assert_array_equal(one[step].positions, (1_000_000 + step) * 32 + np.arange(32))
  from_start = _indices(500, 3, global_batch_size=32, process_index=0, process_count=1)
  restarted = list(sampling.train_rows(500, 7, global_batch_size=32, process_index=0,
                                       process_count=1, start_step=2, num_steps=1))
  np.testing.assert_array_equal(restarted[0].indices, from_start[64:96])


def test_eval_rows_cover_the_split_once_padded_and_in_lockstep():
  per_process = [list(sampling.eval_rows(10, global_batch_size=4, process_index=i,
                                         process_count=2)) for i in range(2)]
  assert [len(rows) for rows in per_process] == [3, 3]
  real = sorted(int(i) for rows in per_process for r in rows for i in r.indices[r.mask])
  assert real == list(range(10))
  assert per_process[1][-1].mask.tolist() == [False, False]


def test_batch_not_divisible_by_processes_and_empty_splits_are_clear_errors():
  with pytest.raises(ValueError, match='batch size 10 is not divisible by 4 processes'):
    sampling.local_batch_size(10, 4)
  with pytest.raises(ValueError, match='the evaluation split has no examples'):
    list(sampling.eval_rows(0, global_batch_size=4, process_index=0, process_count=1))
