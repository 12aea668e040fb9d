"""Zero-shot: prompt filling, the template ensemble as numpy computes it, accuracy from cosines."""
import re
import zlib

import numpy as np
import pytest

from big_uni.evaluators import zero_shot

CLASSES = ['rose', 'tulip', 'daisy', 'lily', 'orchid', 'sunflower']
TEMPLATES = ['a photo of a {label}.', 'An image of {label}, a type of flower.',
             'a blurry photo of the {label}.']
VOCABULARY = sorted(set(re.findall(r'[a-z]+', ' '.join(CLASSES + TEMPLATES).lower())))


def bag_of_words(texts: list[str]) -> np.ndarray:
  """[T, vocabulary] word counts: a deterministic text 'encoder' with a known geometry."""
  rows = np.zeros((len(texts), len(VOCABULARY)))
  for row, text in zip(rows, texts):
    for word in re.findall(r'[a-z]+', text.lower()):
      row[VOCABULARY.index(word)] += 1
  return rows


def random_embedding(texts: list[str]) -> np.ndarray:
  """[T, 8]: a fixed random direction per text, with a norm that grows with its length."""
  return np.stack([np.random.default_rng(zlib.crc32(text.encode())).standard_normal(8)
                   * len(text) for text in texts])


def test_images_like_their_class_word_are_classified_correctly():
  classifier = zero_shot.zero_shot_classifier(CLASSES, TEMPLATES, bag_of_words)
  assert classifier.shape == (len(CLASSES), len(VOCABULARY))
  np.testing.assert_allclose(np.linalg.norm(classifier, axis=-1), 1.0, rtol=1e-6)
  labels = np.array([3, 0, 5, 1, 1, 2, 4])
  # An "image" is its class word, at any scale.
  images = bag_of_words([CLASSES[label] for label in labels]) * np.arange(1, 8)[:, None]
  assert zero_shot.zero_shot_accuracy(images, labels, classifier) == {'top1': 1.0, 'top5': 1.0}
  assert zero_shot.zero_shot_accuracy(images, (labels + 1) % 6, classifier)['top1'] == 0.0


def test_templates_are_filled_and_encoded_once_per_class():
  calls = []

  def encode(texts):
    calls.append(texts)
    return bag_of_words(texts)

  zero_shot.zero_shot_classifier(['rose', 'lily'], TEMPLATES[:2], encode)
  assert calls == [['a photo of a rose.', 'An image of rose, a type of flower.'],
                   ['a photo of a lily.', 'An image of lily, a type of flower.']]


def test_class_embedding_is_the_normalised_mean_of_normalised_embeddings():
  classifier = zero_shot.zero_shot_classifier(CLASSES, TEMPLATES, random_embedding)
  for name, row in zip(CLASSES, classifier):
    embeddings = random_embedding([t.replace('{label}', name) for t in TEMPLATES])
    unit = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    expected = unit.mean(0) / np.linalg.norm(unit.mean(0))
    np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-6)
    # Averaging before normalising weights long prompts more: a different answer.
    plain = embeddings.mean(0) / np.linalg.norm(embeddings.mean(0))
    assert np.abs(row - plain).max() > 1e-2


def test_logits_are_cosine_similarities():
  rng = np.random.default_rng(0)
  images, classifier = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
  logits = zero_shot.zero_shot_logits(images * 7.0, classifier)
  expected = np.array([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in classifier]
                       for a in images])
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_top5_counts_a_true_class_ranked_third():
  classifier = np.eye(6)
  # The true class (0) scores third highest.
  images = np.array([[0.5, 0.0, 0.9, 1.0, 0.1, 0.2]])
  assert zero_shot.zero_shot_accuracy(images, [0], classifier) == {'top1': 0.0, 'top5': 1.0}
  assert zero_shot.zero_shot_accuracy(images[:, :4], [0], np.eye(4)) == {'top1': 0.0}


def test_a_template_without_the_label_field_is_refused():
  with pytest.raises(ValueError, match=r"\{label\}; these have none: \['a photo of a \{\}.'\]"):
    zero_shot.zero_shot_classifier(CLASSES, ['a photo of a {}.'], bag_of_words)
