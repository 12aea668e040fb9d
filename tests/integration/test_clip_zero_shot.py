"""`configs/clip_zero_shot.py`: imported CLIP weights evaluated as they load (`--mode=eval` on an
empty workdir): zero-shot with the seeds' prompt and OpenAI's 80 templates through OpenAI's BPE,
kNN and the probe, on Fashion-MNIST offline. The zero-shot accuracy equals transformers' CLIPModel
classifying the same images with the same prompts (random weights at a reduced size)."""
import os

import pytest

from big_uni import train
from big_uni.evaluators import zero_shot
from configs import common_constants
from input_pipeline import builders
from tests.helpers import imported_clip, import_or_skip, requires

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

# 40 s, in the slow call: the README's suite keeps to 15 minutes, and the imported weights' own
# parity with transformers' CLIPModel is tests/convert/test_clip_layouts.py's.
@pytest.mark.slow
@requires(os.path.exists(builders.FASHION_MNIST_DIR), 'apt-get install dataset-fashion-mnist')
def test_imported_clip_zero_shot_equals_transformers(tmp_path):
  hf_model, path = imported_clip.hf_clip(transformers, tmp_path / 'hf')
  config = imported_clip.zero_shot_config(path)
  metrics = train.evaluate_checkpoint(config, str(tmp_path / 'empty'))
  assert {'zero_shot/top1', 'zero_shot_openai_80/top1', 'linear_probe/test_accuracy'} <= set(
      metrics) and any(name.startswith('knn/') for name in metrics)
  for name, templates in (('zero_shot', config.evals.zero_shot.templates),
                          ('zero_shot_openai_80', zero_shot.openai_templates())):
    expected, count = imported_clip.reference_top1(torch, hf_model, config, templates)
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
