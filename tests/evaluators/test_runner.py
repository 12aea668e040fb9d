"""config.evals through runner.run on a tiny CLIP: COCO-style caption retrieval on a generated
caption TSV, and kNN, the probe and zero-shot on features kept on the devices in chunks."""
import io

import jax
import numpy as np
from PIL import Image

from big_uni import train
from big_uni.evaluators import features as features_lib
from big_uni.evaluators import knn, retrieval, runner
from big_uni.evaluators.kinds import caption_retrieval
from configs import clip_b16, common

WORDS = ('red', 'green', 'blue', 'dark', 'pale', 'bright')


def _caption_tsv(directory, num_images=13):
  """Images of one colour each with one to three captions (image i's first: 'a <word> photo')."""
  rng = np.random.default_rng(0)
  lines = []
  for index in range(num_images):
    pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format='PNG')
    (directory / f'{index}.png').write_bytes(buffer.getvalue())
    for caption in range(1 + index % 3):
      lines.append(f'{index}.png\ta {WORDS[index % 6]} photo number {index} take {caption}')
  (directory / 'test.tsv').write_text('\n'.join(lines) + '\n')
  return f'captions_tsv:{directory}/{{split}}.tsv'


def _trainer(**input_overrides):
  config = clip_b16.get_config('smoke')
  config.input.update({'batch_size': 8, 'eval_batch_size': 8, **input_overrides})
  trainer = train.Trainer(config)
  return trainer, trainer.init_state().params


def test_caption_retrieval_is_recall_over_every_caption(tmp_path):
  trainer, params = _trainer(dataset=_caption_tsv(tmp_path), templates=(), channels=3,
                             pp_train='decode|resize|normalize(0.5, 0.5)|label_int32',
                             cache=False)
  trainer.config.evals = common.caption_retrieval_evals('test')
  metrics = runner.run(trainer, params)
  assert set(metrics) == {f'caption_retrieval/{direction}_recall_at_{k}' for k in (1, 5, 10)
                          for direction in ('image_to_text', 'text_to_image')}
  # The same recall from features computed in one call each, without the runner's batches.
  pairs = caption_retrieval.eval_pairs(trainer.config.input, 'test', batch_size=8)
  assert len(pairs['image']) == 13 and len(pairs['text_ids']) == 25  # batches of 8: padded
  with trainer.context():
    images = trainer.task.image_features(params, pairs['image'])
    texts = trainer.task.text_features(params, pairs['text_ids'], pairs['text_mask'])
  expected = retrieval.retrieval_recall(images, texts, pairs['text_to_image'])
  for key, value in expected.items():
    assert metrics[f'caption_retrieval/{key}'] == value, key
  assert expected['image_to_text_recall_at_10'] < 1.0  # 25 captions: the figure can move.


def test_feature_evals_on_device_chunks_match_dense_features():
  trainer, params = _trainer(eval_batch_size=64)
  trainer.config.evals = common.feature_evals('digits', train_split='train', test_split='test')
  trainer.config.evals.zero_shot = dict(kind='zero_shot', split='test',
                                        templates=('a photo of the number {label}.',))
  metrics = runner.run(trainer, params)
  features = features_lib.Features(trainer, params)
  train_chunks, test_chunks = (features.labelled('digits', s) for s in ('train', 'test'))
  assert train_chunks.features.sharding.spec[0] is None  # [batches, B, D], rows on the devices
  assert test_chunks.valid.sum() == 300 and not test_chunks.valid.all()  # 300 in 5 x 64 rows
  (train_x, train_y), (test_x, test_y) = (features_lib.dense_features(c)
                                          for c in (train_chunks, test_chunks))
  expected = knn.knn_accuracy(train_x, train_y, test_x, test_y)
  for key, value in expected.items():
    assert metrics[f'knn/{key}'] == value, key
  assert 0.1 < metrics['knn/knn_1_accuracy'] and 0.1 < metrics['linear_probe/test_accuracy']
  assert 0.0 <= metrics['zero_shot/top1'] <= 1.0 and metrics['zero_shot/top5'] >= \
      metrics['zero_shot/top1']
  assert metrics['linear_probe/refit_iterations'] > 0
  jax.clear_caches()
