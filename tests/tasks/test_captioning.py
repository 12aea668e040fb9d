"""The captioning task: batch and caption shapes, a tiny captioner that overfits a batch writes
its captions back (greedy and beam) and scores them, class-word accuracy by hand, the COCO
variant's shapes and preflight."""
import flax.linen as nn
import jax
import numpy as np
import pytest

from big_uni import decoding, errors, preflight, tasks, train
from big_uni.tasks import captioning
from configs import caption_fashion_mnist
from tests.helpers import synthetic_steps

# Digits (the smoke data), and an unlabelled row: class-word accuracy counts the first three.
CAPTIONS = ('a dark three.', 'a light seven.', 'a dark zero.', 'a light ankle boot.')
LABELS = (3, 7, 0, -1)
FASHION_NAMES = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt',
                 'sneaker', 'bag', 'ankle boot')


def _generate(task, beam_size, max_len=0):
  return jax.jit(lambda params, batch: task.generate(params, batch, beam_size=beam_size,
                                                     alpha=0.6, max_len=max_len))


def test_batch_and_generated_shapes():
  config = synthetic_steps.smoke_config(caption_fashion_mnist)
  task = tasks.build_task(config)
  batch = task.synthetic_batch(np.random.default_rng(0), 3)
  assert batch['image'].shape == (3, 8, 8, 1) and batch['text_ids'].shape == (3, 16)
  assert (batch['label'] == -1).all()  # Synthetic rows have no class.
  assert task.reference_ids(batch).shape == (3, 15)  # All but [CLS].
  params = jax.eval_shape(task.init_params, jax.random.key(0))
  for beam_size, max_len, length in ((1, 0, 15), (3, 5, 5)):
    written = jax.eval_shape(lambda p, b, k=beam_size, n=max_len: task.generate(
        p, b, beam_size=k, alpha=0.6, max_len=n), nn.unbox(params), batch)
    assert written.shape == (3, length) and written.dtype == np.int32


@pytest.mark.slow  # 19 s; the captioner's model tests write greedy and beam in the suite.
def test_a_tiny_captioner_overfits_a_batch_and_writes_its_captions():
  config = caption_fashion_mnist.get_config('smoke')  # Its data only names the classes.
  config.update(dict(total_steps=80))
  config.optimizer.update(dict(lr=1e-2, warmup_steps=10, weight_decay=0.0))
  task = tasks.build_task(config)
  tokenizer = task.tokenizer
  ids, mask = tokenizer.encode_padded(list(CAPTIONS), config.input.max_text_len)
  images = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype(np.float32)
  batch = dict(image=images, text_ids=ids, text_mask=mask, label=np.array(LABELS, np.int32))
  metrics, state = synthetic_steps.train_steps(config, config.total_steps, batch=batch)
  # Confident, not just right: else 4 beams find a short caption likelier (from ln(1000) = 6.9).
  assert float(metrics[-1]['train_accuracy']) == 1.0 and float(metrics[-1]['loss']) < 0.1
  for beam_size in (1, 4):
    written = _generate(task, beam_size)(state.params, batch)
    texts = [tokenizer.decode(row) for row in
             decoding.strip(written, tokenizer.sep_id, tokenizer.pad_id)]
    assert texts == list(CAPTIONS), beam_size
  rows = {'label': batch['label']}
  assert task.generation_metrics(texts, texts, rows) == {'class_word_accuracy': 1.0}
  wrong = ['a dark eight.'] + texts[1:]
  assert task.generation_metrics(wrong, texts, rows) == {'class_word_accuracy': 2 / 3}
  assert task.generation_metrics(texts[3:], texts[3:], {'label': np.array([-1])}) == {}


def test_class_word_accuracy_on_a_hand_made_example():
  captions = ['a dark t-shirt.', 'a light t-shirt.', 'An Ankle Boot', 'a bag with a boot',
              'a dark shirt', 'a sandal.']
  labels = [0, 6, 9, 9, 6, 7]  # t-shirt, shirt, ankle boot, ankle boot, shirt, sneaker
  # Right: 0 (t-shirt), 2 (case aside), 4 (shirt); a t-shirt is no shirt, a boot no ankle boot.
  assert captioning.class_word_accuracy(captions, labels, FASHION_NAMES) == 3 / 6
  assert captioning.names_class('an ankle boot.', 'ankle boot')
  assert not captioning.names_class('a boot, ankle high', 'ankle boot')


def test_the_coco_variant_builds_and_preflight_finds_only_its_missing_data(tmp_path):
  config = caption_fashion_mnist.get_config('data=coco')
  config.input.data_dir = str(tmp_path)
  trainer = train.Trainer(config, total_steps=1)
  assert train.count_params(trainer.abstract_state.params) == 136_730_880
  with pytest.raises(errors.UserInputError) as raised:
    preflight.check(trainer.config, trainer.task)
  # One problem: the data (tokenizer, evaluations, pp strings and model sizes pass).
  assert str(raised.value).startswith("found before training: input.train_split='train' of "
                                      "'coco_captions'")
