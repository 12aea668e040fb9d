"""Zero-shot classification (CLIP): class embeddings from prompt templates, cosine similarity.

Each class's embedding is the prompt ensemble of the CLIP paper: the class name is put into every
template ('a photo of a {label}.'), the texts are encoded and L2-normalised, averaged over the
templates and normalised again.
"""
import ast
from typing import Callable, Sequence

import numpy as np

from big_uni import numerics
from input_pipeline import templates as templates_lib

# OpenAI's prompt ensembles as open_clip ships them (open_clip/zero_shot_metadata.py in its
# wheel, read as text: open_clip itself is not imported), e.g. the 80 ImageNet templates of the
# CLIP paper ('OPENAI_IMAGENET_TEMPLATES') and the 7 of its notebook ('SIMPLE_IMAGENET_TEMPLATES').
OPENAI_TEMPLATES_WHEEL = ('open-clip-torch==3.3.0', 'open_clip/zero_shot_metadata.py')


def openai_templates(name: str = 'OPENAI_IMAGENET_TEMPLATES') -> tuple[str, ...]:
  """A named tuple of `lambda c: f'... {c} ...'` templates, as '... {label} ...' strings."""
  from input_pipeline import wheel_files  # pylint: disable=g-import-not-at-top
  with open(wheel_files.wheel_file(*OPENAI_TEMPLATES_WHEEL)) as f:
    module = ast.parse(f.read())
  for node in module.body:
    if isinstance(node, ast.Assign) and [t.id for t in node.targets] == [name]:
      return tuple(_template(element.body) for element in node.value.elts)
  raise ValueError(f'{OPENAI_TEMPLATES_WHEEL[1]} has no {name}')


def _template(f_string: ast.JoinedStr) -> str:
  return ''.join(templates_lib.LABEL_FIELD if isinstance(part, ast.FormattedValue)
                 else part.value for part in f_string.values)


def class_captions(names: Sequence[str], templates: Sequence[str]
                   ) -> tuple[list[str], np.ndarray]:
  """Every template filled with every class name: (captions [C * T], class ids int [C * T]),
  class by class (class-level retrieval's captions)."""
  captions = templates_lib.fill(templates, names)
  return captions, np.repeat(np.arange(len(names)), len(templates))


def zero_shot_classifier(class_names: Sequence[str], templates: Sequence[str],
                         encode_texts: Callable[[list[str]], np.ndarray]) -> np.ndarray:
  """Class embeddings, float32 [num_classes, D], rows of unit length.

  `encode_texts` maps a list of T strings to their embeddings [T, D]; it is called once per class
  with that class's T = len(templates) prompts.
  """
  missing = templates_lib.lacking_label_field(templates)
  if not templates or missing:
    raise ValueError(f'every template needs the field {templates_lib.LABEL_FIELD}; these have '
                     f'none: {missing}')
  rows = []
  for name in class_names:
    texts = templates_lib.fill(templates, [name])
    embeddings = np.asarray(encode_texts(texts), np.float32)
    if embeddings.ndim != 2 or len(embeddings) != len(texts):
      raise ValueError(f'encode_texts returned shape {embeddings.shape} for {len(texts)} texts')
    rows.append(numerics.l2_normalize(numerics.l2_normalize(embeddings).mean(axis=0)))
  return np.stack(rows)


def zero_shot_logits(image_features: np.ndarray, classifier: np.ndarray) -> np.ndarray:
  """Cosine similarities [M, num_classes] of image_features [M, D] and classifier [C, D].

  Multiply by the model's logit scale (100 in CLIP) before a softmax for probabilities.
  """
  return numerics.l2_normalize(np.asarray(image_features, np.float32)) @ numerics.l2_normalize(
      np.asarray(classifier, np.float32)).T


def zero_shot_accuracy(image_features: np.ndarray, labels: np.ndarray,
                       classifier: np.ndarray) -> dict[str, float]:
  """{'top1': ..., 'top5': ...} of labels [M]; 'top5' only where there are at least 5 classes."""
  logits = zero_shot_logits(image_features, classifier)
  labels = np.asarray(labels)
  results = {'top1': float((logits.argmax(-1) == labels).mean())}
  if logits.shape[1] >= 5:
    results['top5'] = float(np.asarray(numerics.top_k_hits(logits, labels)).mean())
  return results
