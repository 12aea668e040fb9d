"""Caption templates: '{label}' in a template stands for a class name ('a photo of a {label}.').

One filling for the CLIP pipeline's class captions (image_text.py) and the zero-shot and
class-retrieval evaluators (big_uni/evaluators/zero_shot.py).
"""
from typing import Sequence

LABEL_FIELD = '{label}'


def lacking_label_field(templates: Sequence[str]) -> list[str]:
  """The templates without LABEL_FIELD, which no class name would enter."""
  return [t for t in templates if LABEL_FIELD not in t]


def fill(templates: Sequence[str], names: Sequence[str]) -> list[str]:
  """Every template filled with every name, name by name: [len(names) * len(templates)]."""
  # str.replace, not str.format: templates and names may contain other braces.
  return [t.replace(LABEL_FIELD, n) for n in names for t in templates]
