"""The evaluation kinds, one module each; importing them registers them (evaluators/registry.py).

A new kind is one module here (an Evaluator subclass under `@registry.register`), its line
below, and its entry's fields in big_uni/config_schema.py EVALS.
"""
from big_uni.evaluators import registry
# pylint: disable=unused-import
from big_uni.evaluators.kinds import (caption_retrieval, knn, linear_probe, retrieval,
                                      task_metrics, zero_shot)
# pylint: enable=unused-import


def names() -> list[str]:
  """Every registered kind."""
  return registry.KINDS.names()


def get(kind: str) -> registry.Evaluator:
  """The Evaluator of `kind`; an unknown kind is refused naming the close matches."""
  return registry.KINDS.get(kind)
