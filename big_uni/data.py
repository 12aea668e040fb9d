"""The trainer's view of data: per-process numpy batches from input_pipeline, or synthetic ones.

tf.data is imported only when a real dataset is read, so `big_uni` trains without TensorFlow on the
synthetic source (GPU machines without TF, benchmarks).
"""
import numpy as np

from big_uni import config_schema


def _synthetic_batches(input_config, task, *, train: bool, local_batch: int, seed: int,
                       start_step: int, num_steps: int | None):
  """The task's random batches, a fixed function of (seed, step); eval has `eval_examples`."""

  def batch_at(step):
    return task.synthetic_batch(np.random.default_rng([seed, int(train), step]), local_batch)

  if train:
    from input_pipeline import sampling  # pylint: disable=g-import-not-at-top
    steps = sampling.steps(start_step, num_steps)
    return (batch_at(step) for step in steps)
  num_batches = -(-input_config.eval_examples // (local_batch))
  return ({**batch_at(step), 'mask': np.ones(local_batch, bool)} for step in range(num_batches))


def get_iterator(config, split: str, *, train: bool, task, start_step: int = 0,
                 num_steps: int | None = None, process_index: int = 0, process_count: int = 1,
                 input_config=None, batch_size: int | None = None):
  """Yields this process's share of each global batch as a dict of numpy arrays.

  `task` gives the shapes of synthetic batches (`task.synthetic_batch`). An evaluation reads
  its own `input_config` (a complete input section; default config.input) at its own
  `batch_size` (default input.batch_size, or input.eval_batch_size when not `train`)."""
  config_schema.complete(config)
  input_config = input_config or config.input
  batch_size = batch_size or (config.input.batch_size if train else config.input.eval_batch_size)
  from input_pipeline import sampling  # pylint: disable=g-import-not-at-top
  local_batch = sampling.local_batch_size(batch_size, process_count)
  if input_config.dataset == 'synthetic':
    return _synthetic_batches(input_config, task, train=train, local_batch=local_batch,
                              seed=config.seed + process_index, start_step=start_step,
                              num_steps=num_steps)
  if 'tokenizer' in input_config:
    from big_uni.tasks import base  # pylint: disable=g-import-not-at-top
    base.check_vocab_size(input_config.tokenizer, task.vocab_size)
  import input_pipeline  # pylint: disable=g-import-not-at-top
  return input_pipeline.get_iterator(
      input_config, split, train=train, global_batch_size=batch_size, seed=config.seed,
      start_step=start_step, num_steps=num_steps, process_index=process_index,
      process_count=process_count)


def num_examples(config, split: str) -> int:
  if config.input.dataset == 'synthetic':
    if split == config.input.eval_split:
      return config_schema.complete(config).input.eval_examples
    raise ValueError('synthetic training data is endless: set config.total_steps, not num_epochs')
  import input_pipeline  # pylint: disable=g-import-not-at-top
  return input_pipeline.num_examples(config.input, split)
