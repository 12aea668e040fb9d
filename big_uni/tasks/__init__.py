"""Task registry: `config.task` -> the objective (model, loss, metrics) the trainer runs."""
from big_uni.tasks.classification import ClassificationTask

TASKS = {'classification': ClassificationTask}


def build_task(config):
  if config.task not in TASKS:
    raise ValueError(f'unknown task {config.task!r}; known: {sorted(TASKS)}')
  return TASKS[config.task](config)
