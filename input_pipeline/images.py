"""The tf.data image pipeline (input.kind='image'), sharded per process.

`get_iterator` yields this process's share of every global batch as numpy arrays.
"""
import itertools
import math

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from input_pipeline import preprocess, sources

# The accelerators belong to JAX.
tf.config.set_visible_devices([], 'GPU')
tfds.disable_progress_bar()


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields {'image': float32 [local_batch, S, S, C], 'label': int32 [local_batch]}.

  local_batch = global_batch_size // process_count; each process reads its own shard.
  train=True: endless, shuffled (seeded, reshuffled each epoch), augmented, starting at batch
    `start_step` of the same stream an uninterrupted run sees; `num_steps` batches if given (a
    stream that ends lets its worker threads stop, instead of stalling the exit for many seconds).
  train=False: one ordered pass; every batch has 'mask' (bool [local_batch], False on padding)
    and all processes yield the same number of batches, so multi-host eval stays in lockstep.
  """
  return source_batches(
      sources.get_source(input_config), input_config, split, train=train,
      global_batch_size=global_batch_size, seed=seed, start_step=start_step, num_steps=num_steps,
      process_index=process_index, process_count=process_count)


def source_batches(source, input_config, split: str, *, train: bool, global_batch_size: int,
                   seed: int, start_step: int, num_steps: int | None, process_index: int,
                   process_count: int, finish=lambda step, batch: batch):
  """`get_iterator` over any source (sources.py, caption_sources.py); `finish(step, batch)`
  completes each numpy batch (step: the train step, or the eval batch's number) before eval
  padding, e.g. tokenizes the captions that preprocessing passed through."""
  if global_batch_size % process_count:
    raise ValueError(f'batch size {global_batch_size} is not divisible by {process_count} '
                     'processes')
  local_batch = global_batch_size // process_count
  ds = source.read(split, process_index, process_count)
  if input_config.get('cache', True):
    ds = ds.cache()
  options = tf.data.Options()
  options.deterministic = True
  # tf.data's autotuning thread held process exit for ~35 s after training (seen with TF 2.21);
  # fixed parallelism (one map call per core) keeps the pipeline far ahead of the model anyway.
  options.autotune.enabled = False
  if train:
    ds = ds.shuffle(input_config.get('shuffle_buffer', 10_000), seed=seed,
                    reshuffle_each_iteration=True).repeat()
    # Skip before decoding/augmenting; the augmentation seed is the position in the stream.
    first = start_step * local_batch
    ds = ds.skip(first).enumerate(start=first)
    ds = ds.map(preprocess.train_fn(input_config, seed, process_index),
                num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(local_batch, drop_remainder=True)
    if num_steps is not None:
      ds = ds.take(num_steps)
    ds = ds.prefetch(tf.data.AUTOTUNE).with_options(options)
    return itertools.starmap(finish, zip(itertools.count(start_step), ds.as_numpy_iterator()))

  ds = ds.map(preprocess.eval_fn(input_config), num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(local_batch).prefetch(tf.data.AUTOTUNE).with_options(options)
  # The largest process shard sets the number of batches (even_splits differ by at most one).
  per_process = math.ceil(source.num_examples(split) / process_count)
  num_batches = math.ceil(per_process / local_batch)
  return _padded(itertools.starmap(finish, enumerate(ds.as_numpy_iterator())), local_batch,
                 num_batches)


def _padded(batches, local_batch: int, num_batches: int):
  """Pads every batch to local_batch rows with a 'mask'; all-padding batches fill the count."""
  template = None
  for batch in itertools.chain(batches, itertools.repeat(None)):
    if num_batches == 0:
      return
    num_batches -= 1
    if batch is None:
      if template is None:
        raise ValueError('this process received no evaluation examples')
      batch = {k: v[:0] for k, v in template.items()}
    template = batch
    size = len(batch['label'])
    padded = {k: np.concatenate([v, np.zeros((local_batch - size, *v.shape[1:]), v.dtype)])
              for k, v in batch.items()}
    padded['mask'] = np.arange(local_batch) < size
    yield padded


def num_examples(input_config, split: str) -> int:
  return sources.get_source(input_config).num_examples(split)


def class_names(input_config) -> list[str] | None:
  return sources.get_source(input_config).class_names
