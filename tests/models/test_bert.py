"""BERT: published parameter counts, padding, MLM loss on masked positions only, overfitting."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import train
from big_uni.models import build_model
from configs import bert_base, common_bert
from tests.helpers import synthetic_steps


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


# HF bert-{base,large}-uncased BertModel (encoder + pooler) have exactly these counts; the
# paper's 110M / 340M include the pretraining heads.
@pytest.mark.parametrize('variant,encoder_and_pooler,with_heads', [
    ('base', 109_482_240, 110_106_428), ('large', 335_141_888, 336_226_108)])
def test_published_parameter_counts(variant, encoder_and_pooler, with_heads):
  model = build_model(common_bert.model(variant, 30522))
  ids = jnp.zeros((1, 8), jnp.int32)
  params = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), ids, ids, ids == 0,
                                   jnp.zeros((1, 2), jnp.int32)))['params']
  assert _count(params['text']) + _count(params['pooler']) == encoder_and_pooler
  assert _count(params) == with_heads


def _tiny_task(**overrides):
  config = bert_base.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.model.dropout = 0.0
  config.update(overrides)
  return config


def test_padded_tokens_do_not_change_real_outputs():
  config = _tiny_task()
  trainer = train.Trainer(config, total_steps=1)
  state = trainer.init_state()
  model = trainer.task.model.text
  rng = np.random.default_rng(0)
  ids = rng.integers(5, 1000, (2, 12)).astype(np.int32)
  mask = np.arange(12)[None] < np.array([[8], [12]])
  segments = np.zeros_like(ids)
  other = np.where(mask, ids, rng.integers(5, 1000, ids.shape)).astype(np.int32)
  params = {'params': state.params['text']}
  out = model.apply(params, ids, segments, mask)
  out_other = model.apply(params, other, segments, mask)
  np.testing.assert_allclose(out[0, :8], out_other[0, :8], atol=1e-5)
  unmasked = model.apply(params, other, segments, np.ones_like(mask))
  assert np.abs(out[0, :8] - unmasked[0, :8]).max() > 1e-3  # The mask is what protects them.


def test_mlm_loss_counts_only_weighted_masked_positions():
  config = _tiny_task()
  trainer = train.Trainer(config, total_steps=1)
  state = trainer.init_state()
  task = trainer.task
  batch = task.synthetic_batch(np.random.default_rng(0), 4)
  batch['masked_weights'][:, 3:] = 0.0  # Only the first 3 predictions per row are real.
  rng = jax.random.key(0)
  loss = lambda b: float(task.loss_and_metrics(state.params, b, rng)[1]['train_mlm_loss'])
  changed_padding = {**batch, 'masked_ids': batch['masked_ids'].copy()}
  changed_padding['masked_ids'][:, 3:] = (changed_padding['masked_ids'][:, 3:] + 7) % 1000
  assert loss(changed_padding) == pytest.approx(loss(batch), abs=1e-6)
  changed_real = {**batch, 'masked_ids': batch['masked_ids'].copy()}
  changed_real['masked_ids'][:, 0] = (changed_real['masked_ids'][:, 0] + 7) % 1000
  assert abs(loss(changed_real) - loss(batch)) > 1e-4


def test_tiny_bert_overfits_a_batch():
  metrics = synthetic_steps.overfit(_tiny_task(total_steps=120))[-1]
  assert float(metrics['train_mlm_accuracy']) == 1.0
  assert float(metrics['train_nsp_accuracy']) == 1.0
