"""Image-text retrieval recall@K (COCO / Flickr30k style) by cosine similarity.

Each caption belongs to one image; an image may have several captions. Image->text: an image is
retrieved at K when ANY of its captions is among the K texts most similar to it. Text->image: a
caption is retrieved at K when its image is among the K most similar images. Equal similarities
rank the lower index first. Queries go through in batches of `batch_size`, each holding one
[batch_size, gallery] block of similarities.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from big_uni import numerics


def _similarities(gallery, query):
  # HIGHEST: TPUs and GPUs would otherwise round the operands to bfloat16 and reorder the ranking.
  return jnp.dot(gallery, query, precision=jax.lax.Precision.HIGHEST)


def _rank(similarities, target_similarity, target_index):
  """0-based rank of the target: items scoring higher, plus equal ones at a lower index."""
  lower_index = jnp.arange(similarities.shape[0]) < target_index
  return (jnp.sum(similarities > target_similarity)
          + jnp.sum((similarities == target_similarity) & lower_index))


@functools.partial(jax.jit, static_argnames='batch_size')
def _ranks(image_features, text_features, text_to_image, batch_size):
  """(image->text ranks [N], text->image ranks [T]): each query's best-ranked match, 0-based."""
  images, texts = numerics.l2_normalize(image_features), numerics.l2_normalize(text_features)

  def image_query(args):
    image, image_index = args
    similarities = _similarities(texts, image)  # [T]
    own = text_to_image == image_index
    best = jnp.max(jnp.where(own, similarities, -jnp.inf))
    first_best = jnp.argmax(own & (similarities == best))  # The best caption that ranks first.
    return _rank(similarities, best, first_best)

  def text_query(args):
    text, image_index = args
    similarities = _similarities(images, text)  # [N]
    return _rank(similarities, similarities[image_index], image_index)

  image_ranks = jax.lax.map(image_query, (images, jnp.arange(images.shape[0])),
                            batch_size=min(batch_size, images.shape[0]))
  text_ranks = jax.lax.map(text_query, (texts, text_to_image),
                           batch_size=min(batch_size, texts.shape[0]))
  return image_ranks, text_ranks


def retrieval_recall(image_features, text_features, text_to_image, ks=(1, 5, 10),
                     batch_size: int = 256) -> dict[str, float]:
  """Recall@K both ways.

  image_features [N, D], text_features [T, D], text_to_image [T] ints: the image each caption
  describes; every image needs at least one caption.
  Returns {'image_to_text_recall_at_<K>': ..., 'text_to_image_recall_at_<K>': ...} for each K.
  """
  text_to_image = np.asarray(text_to_image)
  num_images = len(image_features)
  if len(text_to_image) != len(text_features):
    raise ValueError(f'text_to_image has {len(text_to_image)} entries for '
                     f'{len(text_features)} captions')
  if text_to_image.min() < 0 or text_to_image.max() >= num_images:
    raise ValueError(f'text_to_image must index the {num_images} images')
  uncaptioned = np.setdiff1d(np.arange(num_images), text_to_image)
  if uncaptioned.size:
    raise ValueError(f'{uncaptioned.size} images have no caption, e.g. {uncaptioned[:5]}')
  image_ranks, text_ranks = jax.device_get(_ranks(
      jnp.asarray(image_features, jnp.float32), jnp.asarray(text_features, jnp.float32),
      jnp.asarray(text_to_image, jnp.int32), batch_size))
  results = {}
  for k in ks:
    results[f'image_to_text_recall_at_{k}'] = float((image_ranks < k).mean())
    results[f'text_to_image_recall_at_{k}'] = float((text_ranks < k).mean())
  return results


def class_retrieval_recall(image_features, image_labels, text_features, text_labels,
                           ks=(1, 5, 10)) -> dict[str, float]:
  """Recall@K where any item of the query's class counts as a match (captions made from class
  names: every image of a class fits every caption of it). Same keys as `retrieval_recall`."""
  images = numerics.l2_normalize(jnp.asarray(image_features, jnp.float32))
  texts = numerics.l2_normalize(jnp.asarray(text_features, jnp.float32))
  similarities = jnp.dot(images, texts.T, precision=jax.lax.Precision.HIGHEST)  # [N, T]
  image_labels, text_labels = jnp.asarray(image_labels), jnp.asarray(text_labels)
  results = {}
  for k in ks:
    top_texts = jax.lax.top_k(similarities, min(k, similarities.shape[1]))[1]
    top_images = jax.lax.top_k(similarities.T, min(k, similarities.shape[0]))[1]
    image_hits = (text_labels[top_texts] == image_labels[:, None]).any(1)
    text_hits = (image_labels[top_images] == text_labels[:, None]).any(1)
    results[f'image_to_text_recall_at_{k}'] = float(image_hits.mean())
    results[f'text_to_image_recall_at_{k}'] = float(text_hits.mean())
  return results
