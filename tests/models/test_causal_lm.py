"""The causal LM family: GPT-2 small's parameter count, tied logits, no future leaks, overfitting."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import config_schema, errors
from big_uni.models import build_model
from configs import lm_austen
from tests.helpers import synthetic_steps


def _model(**fields):
  return build_model(ml_collections.ConfigDict(dict(name='causal_lm', **fields)))


def test_gpt2_small_has_gpt2s_parameter_count():
  model = _model(variant='base', vocab_size=50257)  # 1,024 positions, as GPT-2's.
  params = nn.unbox(jax.eval_shape(model.init, jax.random.key(0),
                                   jnp.zeros((1, 8), jnp.int32)))['params']
  # HF GPT2Model (gpt2): wte, wpe, 12 blocks, ln_f; the LM head is wte itself.
  assert sum(x.size for x in jax.tree.leaves(params)) == 124_439_808
  assert 'segment_embed' not in params['text'] and 'embed_layer_norm' not in params['text']


def _tiny():
  model = _model(variant='mini', width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=50,
                 max_len=16, dropout=0.0)
  ids = jnp.asarray(np.random.default_rng(0).integers(0, 50, (2, 16)), jnp.int32)
  return model, nn.unbox(model.init(jax.random.key(0), ids)), ids


def test_logits_are_the_token_embedding_applied_to_the_features():
  model, params, ids = _tiny()
  logits = model.apply(params, ids)
  assert logits.shape == (2, 16, 50) and logits.dtype == jnp.float32
  features = model.apply(params, ids, method=lambda m, x: m.text(x))
  embedding = params['params']['text']['token_embed']['embedding']
  np.testing.assert_allclose(logits, features @ embedding.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('changed', [1, 7, 15])
def test_a_later_token_changes_no_earlier_logits(changed):
  model, params, ids = _tiny()
  other = ids.at[:, changed].set((ids[:, changed] + 1) % 50)
  logits, other_logits = model.apply(params, ids), model.apply(params, other)
  np.testing.assert_array_equal(logits[:, :changed], other_logits[:, :changed])
  assert np.abs(logits[:, changed:] - other_logits[:, changed:]).max() > 1e-4


def test_the_layout_is_no_option():
  config = lm_austen.get_config('smoke')
  config.model.causal = False
  with pytest.raises(errors.UserInputError, match='model.causal'):
    config_schema.validate(config)


def test_tiny_lm_overfits_a_batch():
  metrics = synthetic_steps.overfit(synthetic_steps.smoke_config(lm_austen, total_steps=150))
  assert float(metrics[-1]['train_accuracy']) > 0.95
  assert float(metrics[-1]['loss']) < 1.0  # From ln(1000) = 6.9.
