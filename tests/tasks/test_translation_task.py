"""The translation task: teacher forcing over real target tokens only, label smoothing in training
only, a tiny Transformer overfits a batch and then writes its targets back."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import train
from big_uni.tasks import sequence
from configs import translation_ding
from input_pipeline import tokenizers
from tests.helpers import synthetic_steps


def _config():
  config = translation_ding.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.model.dropout = 0.0
  return config


def _padded_batch(task):
  """3 rows whose targets hold 3, 32 and 6 real tokens, then a padding row of an eval batch."""
  batch = task.synthetic_batch(np.random.default_rng(0), 4)
  batch['target_mask'] = np.arange(32) < np.array([3, 32, 6, 0])[:, None]
  batch['source_mask'] = np.arange(32) < np.array([5, 9, 32, 0])[:, None]
  batch['mask'] = np.array([True, True, True, False])
  return batch


def test_eval_loss_is_the_mean_over_real_next_target_tokens():
  config = _config()
  config.label_smoothing = 0.1  # Training's only.
  trainer = train.Trainer(config, total_steps=1)
  task, params = trainer.task, trainer.init_state().params
  batch = _padded_batch(task)
  sums = jax.device_get(task.eval_sums(params, batch))
  assert sums['loss'][1] == 2 + 31 + 5 and np.isfinite(sums['loss'][0])
  logits = task.model.apply({'params': params}, batch['source_ids'], batch['source_mask'],
                            batch['target_ids'][:, :-1])
  unsmoothed = sequence.next_token_sums(logits, batch['target_ids'][:, 1:],
                                        task._target_weights(batch))
  np.testing.assert_allclose(sums['loss'][0], unsmoothed['loss'][0], rtol=1e-5)
  rows = {k: v for k, v in batch.items() if k != 'mask'}
  smoothed = sequence.next_token_sums(logits, batch['target_ids'][:, 1:],
                                      task._target_weights(rows), label_smoothing=0.1)
  train_sums = jax.device_get(task.train_sums(params, rows, jax.random.key(0)))  # No dropout.
  np.testing.assert_allclose(train_sums['loss'][0], smoothed['loss'][0], rtol=1e-5)
  assert abs(train_sums['loss'][0] - sums['loss'][0]) > 1e-3


@pytest.mark.slow  # 18 s; the captioner's overfit-and-write test runs the same decoding.write.
def test_tiny_transformer_overfits_a_batch_and_writes_its_targets():
  config = synthetic_steps.smoke_config(translation_ding, total_steps=150)
  config.model.dropout = 0.0
  config.optimizer.update(dict(lr=3e-3, warmup_steps=10))
  task = train.Trainer(config, total_steps=1).task
  batch = task.synthetic_batch(np.random.default_rng(0), 8)
  # Short targets framed start ... end: the tokenizer's cls_id and sep_id, which generation
  # starts from and stops at.
  lengths = np.array([4, 5, 6, 7, 4, 5, 6, 7])
  batch['target_mask'] = np.arange(32) < lengths[:, None]
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  batch['target_ids'] = np.where(batch['target_ids'] < 4, 9, batch['target_ids'])  # No specials.
  batch['target_ids'][:, 0] = tokenizer.cls_id
  batch['target_ids'][np.arange(8), lengths - 1] = tokenizer.sep_id
  metrics, state = synthetic_steps.train_steps(config, 150, batch=batch)
  assert float(metrics[-1]['train_accuracy']) > 0.95
  written = task.generate(state.params, {k: jnp.asarray(v) for k, v in batch.items()}, beam_size=1,
                          alpha=0.0, max_len=8)
  for row, length in enumerate(lengths):
    np.testing.assert_array_equal(written[row, :length - 1], batch['target_ids'][row, 1:length])

