"""Task registry: `config.task` -> the objective (model, loss, metrics) the trainer runs."""
from big_uni.tasks.classification import ClassificationTask
from big_uni.tasks.contrastive import ContrastiveTask
from big_uni.tasks.mlm_nsp import MlmNspTask
from big_uni.tasks.text_classification import TextClassificationTask

TASKS = {
    'classification': ClassificationTask,
    'contrastive': ContrastiveTask,
    'mlm_nsp': MlmNspTask,
    'text_classification': TextClassificationTask,
}


def build_task(config):
  if config.task not in TASKS:
    raise ValueError(f'unknown task {config.task!r}; known: {sorted(TASKS)}')
  return TASKS[config.task](config)
