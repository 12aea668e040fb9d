"""The captioning task: batch and caption shapes, a tiny captioner that overfits a batch writes
its captions back (greedy and beam), class-word accuracy, the COCO variant's shapes and
preflight."""
import jax
import numpy as np
import pytest

from big_uni import decoding, errors, preflight, train
from big_uni.tasks import captioning
from configs import caption_fashion_mnist
from input_pipeline import tokenizers
from tests.helpers import synthetic_steps

CAPTIONS = ('a dark bag.', 'a light ankle boot.', 'a dark t-shirt.', 'a light sneaker.')
FASHION_NAMES = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt',
                 'sneaker', 'bag', 'ankle boot')


def _smoke_config(**overrides):
  return synthetic_steps.smoke_config(caption_fashion_mnist, **overrides)


def _captioned_batch(config):
  """4 random images [4, 8, 8, 1] with CAPTIONS, framed [CLS] ... [SEP] as the pipeline frames
  them."""
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  ids, mask = tokenizer.encode_padded(list(CAPTIONS), config.input.max_text_len)
  images = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype(np.float32)
  return dict(image=images, text_ids=ids, text_mask=mask, label=np.array([8, 9, 0, 7], np.int32))


def _generate(task, beam_size, max_len=0):
  return jax.jit(lambda params, batch: task.generate(params, batch, beam_size=beam_size,
                                                     alpha=0.6, max_len=max_len))


def test_batch_and_generated_shapes():
  trainer = train.Trainer(_smoke_config(), total_steps=1)
  task, params = trainer.task, trainer.init_state().params
  batch = task.synthetic_batch(np.random.default_rng(0), 3)
  assert batch['image'].shape == (3, 8, 8, 1) and batch['text_ids'].shape == (3, 16)
  assert (batch['label'] == -1).all()  # Synthetic rows have no class.
  assert task.reference_ids(batch).shape == (3, 15)  # All but [CLS].
  written = _generate(task, 1)(params, batch)
  assert written.shape == (3, 15) and written.dtype == np.int32
  assert _generate(task, 3, max_len=5)(params, batch).shape == (3, 5)


def test_a_tiny_captioner_overfits_a_batch_and_writes_its_captions():
  config = _smoke_config(total_steps=80)
  config.optimizer.update(dict(lr=1e-2, warmup_steps=10, weight_decay=0.0))
  batch = _captioned_batch(config)
  metrics, state = synthetic_steps.train_steps(config, config.total_steps, batch=batch)
  # Confident, not just right: else 4 beams find a short caption likelier (from ln(1000) = 6.9).
  assert float(metrics[-1]['train_accuracy']) == 1.0 and float(metrics[-1]['loss']) < 0.1
  task = train.Trainer(config, total_steps=1).task
  tokenizer = task.tokenizer
  for beam_size in (1, 4):
    written = _generate(task, beam_size)(state.params, batch)
    texts = [tokenizer.decode(row) for row in
             decoding.strip(written, tokenizer.sep_id, tokenizer.pad_id)]
    assert texts == list(CAPTIONS), beam_size


def test_class_word_accuracy_on_a_hand_made_example():
  captions = ['a dark t-shirt.', 'a light t-shirt.', 'An Ankle Boot', 'a bag with a boot',
              'a dark shirt', 'a sandal.']
  labels = [0, 6, 9, 9, 6, 7]  # t-shirt, shirt, ankle boot, ankle boot, shirt, sneaker
  # Right: 0 (t-shirt), 2 (case aside), 4 (shirt); a t-shirt is no shirt, a boot no ankle boot.
  assert captioning.class_word_accuracy(captions, labels, FASHION_NAMES) == 3 / 6
  assert captioning.names_class('an ankle boot.', 'ankle boot')
  assert not captioning.names_class('a boot, ankle high', 'ankle boot')


def test_generation_metrics_count_labelled_rows_only():
  task = train.Trainer(caption_fashion_mnist.get_config('smoke'), total_steps=1).task
  names = task.class_names  # The digits' readable names.
  assert names[3] == 'three'
  rows = {'label': np.array([3, -1, 5])}
  metrics = task.generation_metrics(['a dark three.', 'a dark three.', 'a dark three.'],
                                    [''] * 3, rows)
  assert metrics == {'class_word_accuracy': 0.5}
  assert task.generation_metrics(['x'], [''], {'label': np.array([-1])}) == {}


def test_the_coco_variant_builds_and_preflight_finds_only_its_missing_data(tmp_path):
  config = caption_fashion_mnist.get_config('data=coco')
  config.input.data_dir = str(tmp_path)
  trainer = train.Trainer(config, total_steps=1)
  assert train.count_params(trainer.abstract_state.params) == 136_730_880
  with pytest.raises(errors.UserInputError) as raised:
    preflight.check(trainer.config, trainer.task)
  assert 'coco_captions' in str(raised.value) and 'model.' not in str(raised.value)
