"""`configs/clip_zero_shot.py`: imported CLIP weights evaluated as they load (`--mode=eval` on an
empty workdir): zero-shot with the seeds' prompt and OpenAI's 80 templates through OpenAI's BPE,
kNN and the probe, on Fashion-MNIST offline. The zero-shot accuracy equals transformers' CLIPModel
classifying the same images with the same prompts (random weights at a reduced size)."""
import os

import numpy as np
import pytest

from big_uni import train
from big_uni.analysis import clip
from big_uni.evaluators import zero_shot
from configs import clip_zero_shot, common_constants
from input_pipeline import builders, image_text, tokenizers
from tests.helpers import import_or_skip, requires
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

IMAGE, PATCH = 32, 8
VISION = dict(width=48, depth=2, mlp_dim=96, num_heads=3)
TEXT = dict(width=32, depth=2, mlp_dim=64, num_heads=2)


def _hf_clip(folder):
  """OpenAI's text sizes (49,408 BPE ids, 77 positions) with reduced towers."""
  model = helpers.hf_clip(transformers, VISION, TEXT, image_size=IMAGE, patch_size=PATCH,
                          vocab_size=49408, text_len=77, eos_token_id=49407, embed_dim=24)
  return model, helpers.save_hf(model, folder)


def _config(path):
  config = clip_zero_shot.get_config('fashion_mnist')
  config.model.embed_dim = 24
  config.model.image.update(dict(variant='B/8', patch_size=PATCH, **VISION))
  config.model.text.update(TEXT)
  config.input.update(dict(image_size=IMAGE, eval_split='test[:200]', eval_batch_size=100))
  for evaluation in config.evals.values():
    evaluation.update({k: v for k, v in dict(
        split='test[:200]', test_split='test[:200]', train_split='train[:300]').items()
        if k in evaluation})
  config.init.clip.path = path
  return config


def _reference_top1(hf_model, config, templates):
  """transformers' zero-shot top-1 on the images our pipeline gives for the test split."""
  trainer = train.Trainer(config, total_steps=1)
  images, labels = clip.split_images(config, trainer.task, 'fashion_mnist', 'test[:200]')
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  names = image_text.READABLE_NAMES['fashion_mnist']
  with torch.no_grad():
    # transformers 5 returns the projected features as the output's pooler_output.
    image_features = hf_model.get_image_features(
        pixel_values=torch.tensor(images.transpose(0, 3, 1, 2))).pooler_output
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    classes = []
    for name in names:
      ids, mask = tokenizer.encode_padded([t.replace('{label}', name) for t in templates], 77)
      text = hf_model.get_text_features(input_ids=torch.tensor(ids, dtype=torch.long),
                                        attention_mask=torch.tensor(mask.astype(np.int64))
                                        ).pooler_output
      text = (text / text.norm(dim=-1, keepdim=True)).mean(0)
      classes.append(text / text.norm())
    predictions = (image_features @ torch.stack(classes).T).argmax(-1).numpy()
  return float(np.mean(predictions == labels)), len(labels)


@requires(os.path.exists(builders.FASHION_MNIST_DIR), 'apt-get install dataset-fashion-mnist')
def test_imported_clip_zero_shot_equals_transformers(tmp_path):
  hf_model, path = _hf_clip(tmp_path / 'hf')
  config = _config(path)
  metrics = train.evaluate_checkpoint(config, str(tmp_path / 'empty'))
  assert {'zero_shot/top1', 'zero_shot_openai_80/top1', 'linear_probe/test_accuracy'} <= set(
      metrics) and any(name.startswith('knn/') for name in metrics)
  for name, templates in (('zero_shot', config.evals.zero_shot.templates),
                          ('zero_shot_openai_80', zero_shot.openai_templates())):
    expected, count = _reference_top1(hf_model, config, templates)
    print(f'{name}: big_uni {metrics[f"{name}/top1"]:.4f}, transformers {expected:.4f}')
    # Random weights put some images near a tie between two classes: at most one may flip.
    assert abs(metrics[f'{name}/top1'] - expected) <= 1 / count + 1e-9


def test_openai_templates_are_read_from_open_clips_wheel():
  templates = zero_shot.openai_templates()
  assert len(templates) == 80 and templates[0] == 'a bad photo of a {label}.'
  assert all(t.count('{label}') == 1 for t in templates)
  assert len(zero_shot.openai_templates('SIMPLE_IMAGENET_TEMPLATES')) == 7
  with pytest.raises(ValueError, match='has no NO_SUCH'):
    zero_shot.openai_templates('NO_SUCH')


def test_the_configs_copy_of_the_openai_templates_is_open_clips():
  assert common_constants.OPENAI_IMAGENET_TEMPLATES == zero_shot.openai_templates()
