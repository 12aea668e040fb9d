"""Tasks: `config.task` -> the objective (model, loss, metrics) the trainer runs.

Each task module registers its Task class in base.TASKS (`@base.TASKS.register(name)`);
importing this package imports them all.
"""
from big_uni import config_schema
from big_uni.tasks.base import TASKS
from input_pipeline import registry

registry.import_submodules(__name__)  # Each task module registers its class.


def build_task(config):
  """The task of `config`, whose left-out fields are filled in place first (a task is where
  programs start: the trainer, tests, notebooks; its code reads the complete config)."""
  return TASKS.get(config.task)(config_schema.complete(config))
