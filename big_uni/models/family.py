"""Model families: `config.model.name` -> what big_uni knows of that kind of model.

Each family registers one `Family` beside its code (vit.py, bert.py, clip.py), so a new family
is one new module (and its line in models/__init__.py, which imports it, and its fields in
config_schema.MODEL). Its Flax module names its family in the class attribute `family`, by which
flops.py and export.py find the counts and layouts of a built model.
"""
import dataclasses
import importlib
from typing import Any, Callable

from input_pipeline.registry import Registry


@dataclasses.dataclass(frozen=True)
class Family:
  """build(model_config) -> the Flax module (the config completed by the schema);
  train_flops(model, batch_shapes) -> model FLOPs of one train step (flops.py's convention);
  tokens_per_example(model, batch_shapes) -> sequence positions one example sends through;
  export(params, config) -> (HF state dict, config.json) of a run's unstacked numpy params, or
  None where the family has no export."""
  build: Callable[[Any], Any]
  train_flops: Callable[[Any, dict], float]
  tokens_per_example: Callable[[Any, dict], int]
  export: Callable[[dict, Any], tuple[dict, dict]] | None = None


# Importing big_uni.models imports every family's module, which registers it.
FAMILIES = Registry('model', load=lambda: importlib.import_module('big_uni.models'))


def of(model) -> Family:
  """The family of a built model (its class attribute `family`)."""
  if not hasattr(model, 'family'):
    raise ValueError(f'{type(model).__name__} belongs to no model family')
  return FAMILIES.get(model.family)
