"""The trainer's view of data: per-process numpy batches from input_pipeline, or synthetic ones.

One `Data` per run (Trainer.data), handed to the evaluators: every pass it gives is this
process's share of each global batch; the task's own batches (those of config.input's kind) are
checked against the batch the task declares (tasks/batch.py) on their first batch, and each
input section's tokenizer against the model's vocabulary once.

tf.data is imported only when a real dataset is read, so `big_uni` trains without TensorFlow on the
synthetic source (GPU machines without TF, benchmarks).
"""
import jax
import numpy as np

from big_uni.tasks import base, batch as batch_lib


class Data:
  """The batches of `config` (complete) for `task`, on this process."""

  def __init__(self, config, task):
    self.config, self.task = config, task
    self._checked_tokenizers = []  # The tokenizer sections checked so far.

  def batches(self, split: str, *, train: bool, start_step: int = 0,
              num_steps: int | None = None, input_config=None, batch_size: int | None = None,
              labels: bool = False):
    """Yields this process's share of each global batch as a dict of numpy arrays.

    train=True: endless (or `num_steps` batches) from `start_step`, shuffled and augmented.
    train=False: one ordered pass, every batch padded to full size with a bool 'mask' [B].
    An evaluation reads its own `input_config` (a complete input section; default
    config.input) at its own `batch_size` (default input.batch_size, or input.eval_batch_size
    when not `train`). `labels`: the examples' 'label' [B] too, beside the task's arrays (kNN and
    the linear probe read the classes of a task that trains without them, as MAE)."""
    config = self.config
    input_config = input_config or config.input
    batch_size = batch_size or (config.input.batch_size if train else config.input.eval_batch_size)
    from input_pipeline import sampling  # pylint: disable=g-import-not-at-top
    local_batch = sampling.local_batch_size(batch_size, jax.process_count())
    if input_config.dataset == 'synthetic':
      batches = self._synthetic(input_config, train=train, local_batch=local_batch,
                                start_step=start_step, num_steps=num_steps)
    else:
      if 'tokenizer' in input_config:
        self._check_tokenizer(input_config.tokenizer)
      import input_pipeline  # pylint: disable=g-import-not-at-top
      batches = input_pipeline.get_iterator(
          input_config, split, train=train, global_batch_size=batch_size, seed=config.seed,
          start_step=start_step, num_steps=num_steps, process_index=jax.process_index(),
          process_count=jax.process_count())
    if input_config.kind != config.input.kind:  # Another kind's batches: an evaluator's own.
      return batches
    return batch_lib.checked(batches, self.task.batch_spec, config.task,
                             f'input.dataset={input_config.dataset!r} ({split!r})',
                             also=('mask', 'label') if labels else ('mask',))

  def _synthetic(self, input_config, *, train: bool, local_batch: int, start_step: int,
                 num_steps: int | None):
    """The task's random batches, a fixed function of (seed, step); eval has `eval_examples`."""
    seed = self.config.seed + jax.process_index()

    def batch_at(step):
      return self.task.synthetic_batch(np.random.default_rng([seed, int(train), step]),
                                       local_batch)

    if train:
      from input_pipeline import sampling  # pylint: disable=g-import-not-at-top
      return (batch_at(step) for step in sampling.steps(start_step, num_steps))
    num_batches = -(-input_config.eval_examples // local_batch)
    return ({**batch_at(step), 'mask': np.ones(local_batch, bool)} for step in range(num_batches))

  def _check_tokenizer(self, tokenizer_config) -> None:
    if tokenizer_config not in self._checked_tokenizers:
      base.check_vocab_size(tokenizer_config, self.task.vocab_size)
      self._checked_tokenizers.append(tokenizer_config)

def num_examples(config, split: str) -> int:
  """The examples of `split` of config.input (the trainer needs it before it has a task)."""
  if config.input.dataset == 'synthetic':
    if split == config.input.eval_split:
      return config.input.eval_examples
    raise ValueError('synthetic training data is endless: set config.total_steps, not num_epochs')
  import input_pipeline  # pylint: disable=g-import-not-at-top
  return input_pipeline.num_examples(config.input, split)
