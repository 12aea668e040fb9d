"""The task's own metrics (Task.eval_sums) over one split, named '<split>_<metric>' as the
trainer has always written them (test_accuracy, validation_mlm_loss): metrics.jsonl rows,
notebooks and resume read those names.

  config.evals.task = dict(kind='task_metrics', every_steps=1000)  # split: input.eval_split
"""
import jax
import numpy as np

from big_uni import errors, sharding
from big_uni.evaluators import registry


@registry.register
class TaskMetrics(registry.Evaluator):
  kind = 'task_metrics'
  runs_first = True  # The run's headline figures, before the representation evaluations.

  def prefix(self, name, entry):
    return f'{entry.split}_'

  def input_kind(self, config, task):
    return config.input.kind  # The batches the task trains on.

  def __call__(self, features, entry):
    """One pass over the entry's split: the means of the task's sums (and what summarize_eval
    derives from them); the sums stay on the devices, read once at the end."""
    trainer, params = features.trainer, features.params
    batches = trainer.data.batches(
        entry.split, train=False, batch_size=entry.batch_size,
        input_config=self.input_config(trainer.config, trainer.task, entry))
    totals = None
    with trainer.context():
      for local_batch in batches:
        batch = sharding.global_batch(local_batch, trainer.mesh)
        if totals is None:
          totals = jax.tree.map(lambda x: np.zeros(x.shape, np.float32),
                                jax.eval_shape(trainer.task.eval_sums, params, batch))
        totals = trainer.eval_step(totals, params, batch)
    totals = jax.tree.map(float, jax.device_get(totals or {}))
    if not totals or not max(count for _, count in totals.values()):
      raise errors.UserInputError(
          f'evaluation split {entry.split!r} of {entry.dataset!r} is empty: set the '
          'task_metrics entry\'s split (default input.eval_split) to a split with examples')
    means = {name: total / max(count, 1.0) for name, (total, count) in totals.items()}
    return trainer.task.summarize_eval(means)
