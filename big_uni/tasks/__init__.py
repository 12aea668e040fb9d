"""Tasks: `config.task` -> the objective (model, loss, metrics) the trainer runs.

Each task module registers its Task class in base.TASKS (`@base.TASKS.register(name)`);
importing this package imports them all.
"""
# pylint: disable=unused-import
from big_uni.tasks import classification, contrastive, mlm_nsp, text_classification
from big_uni.tasks.base import TASKS
from big_uni.tasks.classification import ClassificationTask
from big_uni.tasks.contrastive import ContrastiveTask
from big_uni.tasks.mlm_nsp import MlmNspTask
from big_uni.tasks.text_classification import TextClassificationTask
# pylint: enable=unused-import


def build_task(config):
  return TASKS.get(config.task)(config)
