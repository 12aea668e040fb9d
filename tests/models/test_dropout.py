"""Dropout where each family's reference puts it: BERT as transformers' BertModel (attention
probabilities, branch outputs, embeddings; not the MLP's hidden layer), ViT as big_vision
(branch outputs, embeddings and the MLP's hidden layer; not the attention probabilities)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import pretrained
from big_uni.models import build_model, transformer, vit
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers


def _pattern(shape, rate: float) -> np.ndarray:
  """A fixed keep-mask of `shape`, the same in both frameworks: each framework's dropout is
  replaced by this one, so outputs agree only if dropout acts on the same tensors."""
  index = np.arange(np.prod(shape), dtype=np.uint64).reshape(shape)
  return (index * np.uint64(2654435761) % np.uint64(2**32) >> np.uint64(16)) % 1000 >= rate * 1000


def _flax_dropout(self, inputs, deterministic=None, rng=None):
  del rng
  if self.rate == 0 or deterministic:
    return inputs
  keep = _pattern(inputs.shape, self.rate)
  return jnp.where(keep, inputs / (1 - self.rate), 0).astype(inputs.dtype)


def test_attention_rows_do_not_sum_to_one_where_attention_dropout_is_on():
  x = jax.random.normal(jax.random.key(0), (2, 8, 16))

  def weights(dropout, train):
    attention = transformer.MultiHeadAttention(num_heads=2, dropout=dropout)
    params = attention.init(jax.random.key(1), x)
    _, sown = attention.apply(params, x, train=train, mutable=['intermediates'],
                              rngs={'dropout': jax.random.key(2)})
    return np.asarray(sown['intermediates']['attention_weights'][0])

  np.testing.assert_allclose(weights(0.0, train=True).sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(weights(0.5, train=False).sum(-1), 1.0, rtol=1e-5)
  dropped = weights(0.5, train=True)
  assert (dropped == 0).mean() == pytest.approx(0.5, abs=0.1)
  assert np.abs(dropped.sum(-1) - 1.0).max() > 0.1


def test_bert_dropout_placement_matches_transformers(tmp_path, monkeypatch):
  torch = import_or_skip('torch')
  transformers = import_or_skip('transformers')
  rate = 0.1
  hf_config = transformers.BertConfig(
      vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
      intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=rate,
      attention_probs_dropout_prob=rate, attn_implementation='eager')
  reference = helpers.random_hf_model(transformers.BertModel, hf_config)
  path = helpers.save_hf(reference, tmp_path / 'hf')
  rng = np.random.default_rng(0)
  ids = rng.integers(5, 300, (2, 12))
  segments = (np.arange(12) >= 6)[None].repeat(2, 0).astype(np.int64)
  mask = np.ones((2, 12), bool)
  mask[1, 9:] = False

  def torch_dropout(x, p=0.5, training=True, inplace=False):
    del inplace
    if not training or p == 0:
      return x
    return torch.where(torch.from_numpy(_pattern(tuple(x.shape), p)), x / (1 - p), 0.0)

  monkeypatch.setattr(torch.nn.functional, 'dropout', torch_dropout)
  monkeypatch.setattr(nn.Dropout, '__call__', _flax_dropout)
  with torch.no_grad():
    expected = reference.train()(
        input_ids=torch.tensor(ids), token_type_ids=torch.tensor(segments),
        attention_mask=torch.tensor(mask.astype(np.int64))).last_hidden_state.numpy()

  def ours(**dropouts):
    config = ml_collections.ConfigDict(dict(
        name='bert_classifier', variant='base', vocab_size=300, max_len=16, width=32, depth=2,
        mlp_dim=64, num_heads=4, num_classes=2, dropout=rate, **dropouts))
    params = pretrained.load_source(ml_collections.ConfigDict(dict(kind='hf_bert', path=path)),
                                    config)
    model = build_model(config)
    inputs = [jnp.asarray(ids, jnp.int32), jnp.asarray(segments, jnp.int32), jnp.asarray(mask)]
    params, fresh = pretrained.merge(helpers.init_params(model, *inputs), params)
    assert fresh == ['head/bias', 'head/kernel']  # Everything else comes from the file.
    _, features = model.apply({'params': params}, *inputs, train=True,
                              rngs={'dropout': jax.random.key(0)})
    return np.asarray(features['tokens'])

  # BERT's defaults: attention_dropout follows dropout, no dropout inside the MLP.
  np.testing.assert_allclose(ours()[mask], expected[mask], atol=2e-5)
  # The placement big_uni had before (MLP hidden layer, no attention probabilities) differs.
  assert np.abs(ours(attention_dropout=0.0, mlp_dropout=rate)[mask] - expected[mask]).max() > 1e-2


def test_vit_drops_inside_the_mlp_and_not_the_attention_probabilities(monkeypatch):
  """big_vision's placement by default (mlp_dropout None follows dropout)."""
  model = vit.ViT(num_classes=3, width=16, depth=1, mlp_dim=32, num_heads=2, patch_size=4,
                  dropout=0.1)
  images = jnp.ones((1, 8, 8, 3))
  rates = []

  def record(self, inputs, deterministic=None, rng=None):
    rates.append((self.rate, inputs.shape))
    return _flax_dropout(self, inputs, deterministic, rng)

  monkeypatch.setattr(nn.Dropout, '__call__', record)
  params = model.init(jax.random.key(0), images)
  rates.clear()
  model.apply(params, images, train=True)
  shapes = {shape: rate for rate, shape in rates if rate}
  assert shapes[(5, 32)] == 0.1  # The MLP's hidden layer, [batch * tokens, mlp_dim].
  assert shapes[(1, 5, 16)] == 0.1  # Embeddings and branch outputs.
  assert (1, 2, 5, 5) not in shapes  # No dropout on the attention probabilities.


def test_cudnn_refuses_attention_dropout():
  with pytest.raises(ValueError, match='cannot drop attention probabilities'):
    transformer.choose_attention('cudnn', jnp.bfloat16, 64, dropout=0.1)
  assert transformer.choose_attention(None, jnp.bfloat16, 64, dropout=0.1) == 'xla'
