"""big_uni/analysis/clip.py: CLIP's evaluation protocol for colabs/clip_eval.ipynb, on hand-made
features, sklearn digits, a tiny randomly initialised CLIP (clip_zero_shot:smoke) and small random
imported Hugging Face CLIP weights."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import datasets

from big_uni import checkpoint, train
from big_uni.analysis import clip
from big_uni.evaluators import chunks, linear_probe, runner, zero_shot
from big_uni.evaluators import features as features_lib
from configs import clip_zero_shot
from input_pipeline import builders
from tests.helpers import imported_clip, import_or_skip, requires


def test_top_k_is_cosine_most_similar_first_ties_to_the_lower_index():
  gallery = np.array([[1, 0], [0, 1], [2, 0], [1, 1], [-1, 0]], np.float32)
  indices, similarities = clip.top_k(np.array([[3, 0], [0, -1]], np.float32), gallery, 3)
  # Rows 0 and 2 point the same way (cosine 1), rows 0, 2 and 4 are orthogonal to [0, -1]
  # (cosine 0): the lower index ranks first.
  np.testing.assert_array_equal(indices, [[0, 2, 3], [0, 2, 4]])
  np.testing.assert_allclose(similarities, [[1, 1, 0.5 ** 0.5], [0, 0, 0]], atol=1e-6)
  rng = np.random.default_rng(0)
  queries, gallery = rng.normal(size=(7, 5)), rng.normal(size=(40, 5))
  indices, similarities = clip.top_k(queries, gallery, 4)
  cosine = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
      gallery / np.linalg.norm(gallery, axis=1, keepdims=True)).T
  np.testing.assert_array_equal(indices, np.argsort(-cosine, axis=1)[:, :4])
  np.testing.assert_allclose(similarities, np.sort(cosine, axis=1)[:, ::-1][:, :4], atol=1e-5)


def test_class_captions_fill_every_template_class_by_class():
  captions, labels = zero_shot.class_captions(['cat', 'dog'], ['a {label}.', '{label}!'])
  assert captions == ['a cat.', 'cat!', 'a dog.', 'dog!']
  np.testing.assert_array_equal(labels, [0, 0, 1, 1])


def test_zero_shot_table_ensembles_each_prompt_set():
  """A 'misleading' template puts each class's text near the next class; alone it scores 0,
  ensembled with two faithful templates it scores 1."""
  num_classes = 4
  names = [f'class{c}' for c in range(num_classes)]
  eye = np.eye(num_classes, dtype=np.float32)

  def encode_texts(texts):
    rows = []
    for text in texts:
      c = int(text.split('class')[1][0])
      rows.append(eye[c] + (1.5 * eye[(c + 1) % num_classes] if 'misleading' in text else 0))
    return np.stack(rows)

  labels = np.arange(40) % num_classes
  images = eye[labels] + 0.01 * np.random.default_rng(0).normal(size=(40, num_classes))
  table = clip.zero_shot_table(images, labels, names, {
      'misleading': ['misleading {label}'],
      'ensemble': ['misleading {label}', 'a {label}', 'the {label}'],
      'faithful': ['a {label}']}, encode_texts)
  assert list(table) == ['misleading', 'ensemble', 'faithful']
  assert table['misleading'] == {'top1': 0.0}  # Fewer than 5 classes: no top5.
  assert table['ensemble']['top1'] == table['faithful']['top1'] == 1.0
  with pytest.raises(ValueError, match='needs the field'):
    clip.zero_shot_table(images, labels, names, {'no field': ['a photo']}, encode_texts)


@pytest.mark.parametrize('on_device', [False, True])
def test_l2_normalized_scales_valid_rows_and_keeps_padding_zero(on_device):
  rng = np.random.default_rng(0)
  features = chunks.from_arrays(rng.normal(size=(10, 3)) * 5, np.arange(10), rows=4)  # 2 padded
  if on_device:
    features = features._replace(features=jnp.asarray(features.features))
  normalized = clip.l2_normalized(features)
  assert isinstance(normalized.features, jax.Array) == on_device
  norms = np.linalg.norm(np.asarray(normalized.features), axis=-1)
  np.testing.assert_allclose(norms[features.valid], 1.0, rtol=1e-6)
  np.testing.assert_array_equal(norms[~features.valid], 0.0)
  np.testing.assert_array_equal(normalized.labels, features.labels)
  np.testing.assert_array_equal(normalized.valid, features.valid)
  original = np.asarray(features.features)
  directions = original / np.maximum(np.linalg.norm(original, axis=-1, keepdims=True), 1e-12)
  np.testing.assert_allclose(np.asarray(normalized.features), directions, rtol=1e-5, atol=1e-6)


def test_normalised_probe_ignores_row_scale_and_the_raw_one_is_the_evaluators():
  """Sklearn digits' pixels, each image scaled by a random factor in [0.05, 20]: with L2
  normalisation the probe sees the same features as without the factors; without it, the
  result is linear_probe.linear_probe's own."""
  digits = datasets.load_digits()
  x, y = digits.data.astype(np.float32), digits.target
  scaled = x * np.exp(np.random.default_rng(0).uniform(np.log(0.05), np.log(20), (len(x), 1)))
  train, test = slice(0, 1200), slice(1200, None)
  kwargs = dict(max_sweep_examples=600)
  normalized = clip.probe(scaled[train], scaled[test], True, y[train], y[test], **kwargs)
  unscaled = clip.probe(x[train], x[test], True, y[train], y[test], **kwargs)
  assert normalized['test_accuracy'] > 0.9
  assert abs(normalized['test_accuracy'] - unscaled['test_accuracy']) <= 2 / len(y[test])
  raw = clip.probe(scaled[train], scaled[test], False, y[train], y[test], **kwargs)
  expected = linear_probe.linear_probe(scaled[train], y[train], scaled[test], y[test], **kwargs)
  assert raw['test_accuracy'] == expected['test_accuracy'] and raw['best_C'] == expected['best_C']
  assert raw['test_accuracy'] < normalized['test_accuracy']  # The scale factors hurt it.


def test_tiny_clip_features_load_and_zero_shot(tmp_path):
  config = clip_zero_shot.get_config('smoke')
  with pytest.raises(ValueError, match='no checkpoint'):
    clip.load(config, str(tmp_path / 'empty'))
  # A checkpoint of the random init: load restores it.
  state = train.Trainer(config, total_steps=1).init_state()
  saver = checkpoint.Checkpointer(tmp_path / 'run' / 'checkpoints', every_steps=1, keep=1)
  saver.save(3, state, force=True)
  saver.close()
  trainer, params = clip.load(config, str(tmp_path / 'run'))
  jax.tree.map(np.testing.assert_array_equal, params, state.params)

  features = features_lib.Features(trainer, params)
  image_features, labels = clip.split_features(features, 'digits', 'test')
  images, image_labels = clip.split_images(trainer.config, trainer.task, 'digits', 'test')
  assert image_features.shape == (300, config.model.embed_dim) and images.shape == (300, 8, 8, 1)
  np.testing.assert_array_equal(labels, image_labels)
  np.testing.assert_allclose(features.encode_images(images), image_features, rtol=1e-4,
                             atol=1e-5)
  # The raw features are the task's before their L2 normalisation; their norms differ.
  raw_features, raw_labels = clip.split_features(clip.RawFeatures(trainer, params), 'digits',
                                                 'test')
  np.testing.assert_array_equal(raw_labels, labels)
  norms = np.linalg.norm(raw_features, axis=-1, keepdims=True)
  assert norms.std() > 0.01 * norms.mean() and np.abs(norms - 1).max() > 0.05
  np.testing.assert_allclose(raw_features / norms, image_features, atol=1e-5)
  names = clip.class_names(trainer, 'digits')
  assert len(names) == 10
  templates = list(config.input.templates)
  table = clip.zero_shot_table(image_features, labels, names, {'smoke': templates},
                               features.texts)
  # The evaluator's own zero-shot entry on the same model gives the same top-1.
  assert table['smoke'] == runner.run_one(features, config.evals.zero_shot)
  captions, caption_labels = zero_shot.class_captions(names, templates)
  indices, similarities = clip.top_k(features.texts(captions), image_features, 5)
  assert indices.shape == (len(captions), 5) and np.isfinite(similarities).all()
  assert (np.diff(similarities, axis=1) <= 1e-6).all()
  assert caption_labels.shape == (len(captions),)


@pytest.mark.slow  # 19 s; test_clip_zero_shot checks imported CLIP against transformers too.
@requires(os.path.exists(builders.FASHION_MNIST_DIR), 'apt-get install dataset-fashion-mnist')
def test_imported_clip_weights_load_as_transformers_classifies(tmp_path):
  """The notebook's BIG_UNI_CLIP_WEIGHTS path: configs/clip_zero_shot.py with config.init.clip
  naming a Hugging Face CLIPModel folder (a small random one, tests/helpers/imported_clip.py);
  no checkpoint, so load gives the imported
  weights: the image features are transformers' own, and so is the zero-shot top-1 on the same
  images."""
  torch = import_or_skip('torch')
  transformers = import_or_skip('transformers')
  hf_model, path = imported_clip.hf_clip(transformers, tmp_path / 'hf')
  config = imported_clip.zero_shot_config(path)
  trainer, params = clip.load(config, str(tmp_path / 'empty'))
  features = features_lib.Features(trainer, params)
  image_features, labels = clip.split_features(features, 'fashion_mnist', 'test[:200]')
  images, _ = clip.split_images(trainer.config, trainer.task, 'fashion_mnist', 'test[:200]')
  with torch.no_grad():
    expected_features = hf_model.get_image_features(
        pixel_values=torch.tensor(images[:16].transpose(0, 3, 1, 2))).pooler_output.numpy()
  expected_features /= np.linalg.norm(expected_features, axis=-1, keepdims=True)  # As the task's.
  np.testing.assert_allclose(image_features[:16], expected_features, atol=1e-4)
  prompt = clip_zero_shot.DATASETS['fashion_mnist'][3]
  table = clip.zero_shot_table(image_features, labels, clip.class_names(trainer, 'fashion_mnist'),
                               {'seed prompt': (prompt,)}, features.texts)
  expected, count = imported_clip.reference_top1(torch, hf_model, config, (prompt,))
  assert count == len(labels) == 200
  # Random weights put some images near a tie between two classes: at most one may flip.
  assert abs(table['seed prompt']['top1'] - expected) <= 1 / count + 1e-9
