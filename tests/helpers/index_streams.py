"""Checks every index-based input pipeline owes (input_pipeline/sampling.py): the batch at step s
is a pure function of (seed, s), so a restart at any step and each process's slice reproduce the
uninterrupted stream."""
import numpy as np

import input_pipeline


def stream(config, split='train', **kwargs):
  """Training batches of 8 rows, seed 3."""
  return input_pipeline.get_iterator(config, split, **{
      'train': True, 'global_batch_size': 8, 'seed': 3, **kwargs})


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def assert_restarts_and_slices_reproduce_the_stream(config, field: str) -> float:
  """Restarts 4 steps before the end of a run that goes 3 steps into the second epoch, and two
  processes at step 5, reproduce it exactly; returns the fraction of distinct rows of `field` in
  the first epoch (1.0 for a permutation of distinct examples)."""
  size = input_pipeline.num_examples(config, 'train')
  steps = size // 8 + 3
  first = take(stream(config), steps)
  for a, b in zip(first[steps - 4:], take(stream(config, start_step=steps - 4), 4)):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  halves = [next(stream(config, start_step=5, process_index=p, process_count=2))
            for p in range(2)]
  for key in first[5]:
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), first[5][key])
  epoch = np.concatenate([b[field] for b in first])[:size]
  return len(np.unique(epoch, axis=0)) / size
