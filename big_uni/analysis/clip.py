"""CLIP's evaluation protocol as arrays for colabs/clip_eval.ipynb: features of a split, zero-shot
top-1 per prompt set, the linear probe on raw or L2-normalised features, top-k retrieval.

The task's image features (features.Features) are CLIP's unit-norm joint-space embeddings; the raw
ones (`RawFeatures`) are the same projections before that normalisation, as OpenAI's
`encode_image` returns them.

Everything goes through the evaluators (big_uni/evaluators): these functions only choose what they
are given. Shapes: N images, D the joint embedding width, C classes, T templates.
"""
import functools
from typing import Callable, Sequence

import jax
import numpy as np

from big_uni import data, numerics, sharding, train
from big_uni.evaluators import chunks as chunks_lib
from big_uni.evaluators import features as features_lib
from big_uni.evaluators import linear_probe, registry, zero_shot


def load(config, workdir: str) -> tuple[train.Trainer, object]:
  """(trainer, params) as `train.evaluate_checkpoint` evaluates them: the latest checkpoint in
  `workdir`, else the pretrained weights `config.init` names (e.g. imported CLIP weights)."""
  trainer, _, params = train.restore_or_init(config, workdir)
  return trainer, params


def split_features(features: features_lib.Features, dataset: str, split: str
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(image features float32 [N, D], labels int [N]) of every example of `split`, in order.
  Features caches them: kNN and the probe on `features.labelled(dataset, split)` reuse them."""
  return features_lib.dense_features(features.labelled(dataset, split, kind='image'))


def unnormalized_image_features(model, params, images: jax.Array) -> jax.Array:
  """images [B, S, S, C] -> float32 [B, E]: CLIP's image embeddings before the L2 normalisation
  of `model.encode_image` (models/clip.py), i.e. the projection of the tower's pooled output."""
  return model.apply({'params': params}, images, method='encode_image', normalize=False)


class RawFeatures(features_lib.Features):
  """features.Features whose image features are `unnormalized_image_features` (their norms vary
  from image to image); texts, caching and sharding as features.Features."""

  def __init__(self, trainer: train.Trainer, params):
    super().__init__(trainer, params)
    rows = sharding.batch_sharding(trainer.mesh)
    self._images = jax.jit(functools.partial(unnormalized_image_features, trainer.task.model),
                           in_shardings=(trainer.state_shardings.params, rows),
                           out_shardings=rows)


def split_images(config, task, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  """(images float32 [N, S, S, C] as the image tower sees them, normalised; labels int [N]) of
  `split`, in the order of `split_features`."""
  images, labels = [], []
  image_input = registry.input_section(config.input, 'image', dataset)
  for batch in data.Data(config, task).batches(split, train=False, input_config=image_input):
    images.append(batch['image'][batch['mask']])
    labels.append(batch['label'][batch['mask']])
  return np.concatenate(images), np.concatenate(labels)


def class_names(trainer: train.Trainer, dataset: str) -> list[str]:
  """The C names the zero-shot evaluation's captions use for `dataset`'s classes."""
  return features_lib.class_names(trainer, dataset)


def zero_shot_table(image_features: np.ndarray, labels: np.ndarray, names: Sequence[str],
                    prompt_sets: dict[str, Sequence[str]],
                    encode_texts: Callable[[list[str]], np.ndarray]) -> dict[str, dict]:
  """{prompt set name: {'top1', 'top5'}}: zero-shot accuracy of image_features [N, D] with labels
  [N] when each class's embedding is the ensemble of that set's templates (T >= 1 each);
  encode_texts maps T strings to [T, D] (e.g. features.Features.texts)."""
  return {name: zero_shot.zero_shot_accuracy(image_features, labels, zero_shot.zero_shot_classifier(
      names, templates, encode_texts)) for name, templates in prompt_sets.items()}


def l2_normalized(features: chunks_lib.Chunks) -> chunks_lib.Chunks:
  """The same Chunks with every row of `features` [chunks, rows, D] scaled to unit length
  (padding rows, all zero, stay zero); a device array stays on its devices."""
  x = features.features
  if not isinstance(x, jax.Array):
    x = np.asarray(x, np.float32)
  return features._replace(features=numerics.l2_normalize(x))


def probe(train_x, test_x, normalize: bool, train_y=None, test_y=None, **kwargs) -> dict:
  """`linear_probe.linear_probe` on frozen features, each row L2-normalised first when
  `normalize` (the probe's own centring and scaling follow either way). train_x, test_x: Chunks
  (then no y), or arrays [N, D] and [M, D] with labels train_y [N], test_y [M]; kwargs go to the
  probe. Returns its dict ('test_accuracy', 'best_C', 'sweep': [(C, val accuracy)], ...)."""
  train_chunks = chunks_lib.as_chunks(train_x, train_y)
  test_chunks = chunks_lib.as_chunks(test_x, test_y)
  if normalize:
    train_chunks, test_chunks = l2_normalized(train_chunks), l2_normalized(test_chunks)
  return linear_probe.linear_probe(train_chunks, None, test_chunks, None, **kwargs)


def top_k(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """The k gallery rows most cosine-similar to each query: (indices int [Q, k], similarities
  float32 [Q, k]), most similar first, ties to the lower index. queries [Q, D], gallery [G, D]."""
  similarities = zero_shot.zero_shot_logits(queries, gallery)  # [Q, G]
  indices = np.argsort(-similarities, axis=-1, kind='stable')[:, :k]
  return indices, np.take_along_axis(similarities, indices, axis=-1)
