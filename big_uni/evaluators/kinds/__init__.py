"""The evaluation kinds, one module each; importing them registers them (evaluators/registry.py).

A new kind is one module here (an Evaluator subclass under `@registry.register`) and its
entry's fields in big_uni/config_schema.py EVALS.
"""
from big_uni.evaluators import registry
import input_pipeline.registry

input_pipeline.registry.import_submodules(__name__)  # Each kind's module registers it.


def names() -> list[str]:
  """Every registered kind."""
  return registry.KINDS.names()


def get(kind: str) -> registry.Evaluator:
  """The Evaluator of `kind`; an unknown kind is refused naming the close matches."""
  return registry.KINDS.get(kind)
