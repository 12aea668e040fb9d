"""The shared encoder: masks, remat, stochastic depth, logical axis names."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni.models import transformer
from tests.helpers import import_or_skip


def _encoder(depth=2, drop_path=0.0, remat_policy='none', **block_fields):
  block = transformer.BlockConfig(**{'num_heads': 2, 'mlp_dim': 32, **block_fields})
  return transformer.Encoder(block, depth, drop_path, remat_policy)


def _tokens(batch=2, length=6, width=16, seed=0):
  return jax.random.normal(jax.random.key(seed), (batch, length, width))


def test_padding_does_not_change_real_tokens():
  encoder = _encoder()
  x = _tokens()
  params = encoder.init(jax.random.key(1), x)
  mask = jnp.array([[True] * 4 + [False] * 2] * 2)
  out = encoder.apply(params, x, mask=mask)
  # Different content in the padded positions must not reach the real ones.
  x_other_padding = x.at[:, 4:].set(100.0)
  out_other = encoder.apply(params, x_other_padding, mask=mask)
  np.testing.assert_allclose(out[:, :4], out_other[:, :4], atol=1e-5)
  # And it matters without the mask, so the test can fail.
  out_unmasked = encoder.apply(params, x_other_padding)
  assert np.abs(out[:, :4] - out_unmasked[:, :4]).max() > 1e-2


def test_causal_mask_hides_future_tokens():
  encoder = _encoder(norm_first=False)  # post-LN path too
  x = _tokens()
  params = encoder.init(jax.random.key(1), x)
  out = encoder.apply(params, x, causal=True)
  out_changed_future = encoder.apply(params, x.at[:, 3:].set(-7.0), causal=True)
  np.testing.assert_allclose(out[:, :3], out_changed_future[:, :3], atol=1e-5)
  assert np.abs(out[:, 3:] - out_changed_future[:, 3:]).max() > 1e-2


@pytest.mark.parametrize('policy', ['full', 'dots_saveable'])
def test_remat_changes_nothing_numerically(policy):
  x = _tokens()
  plain, remat = _encoder(), _encoder(remat_policy=policy)
  params = plain.init(jax.random.key(1), x)
  loss = lambda module: lambda p: module.apply(p, x, train=False).sum()
  np.testing.assert_allclose(loss(plain)(params), loss(remat)(params), rtol=1e-6)
  grads = jax.grad(loss(plain))(params), jax.grad(loss(remat))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), *grads)


def test_stochastic_depth_only_in_training():
  encoder = _encoder(drop_path=0.5)
  x = _tokens(batch=8)
  params = encoder.init(jax.random.key(1), x)
  eval_a = encoder.apply(params, x)
  eval_b = encoder.apply(params, x)
  np.testing.assert_array_equal(eval_a, eval_b)
  train = encoder.apply(params, x, train=True, rngs={'dropout': jax.random.key(2)})
  assert np.abs(train - eval_a).max() > 1e-3


def test_every_param_has_logical_axis_names():
  encoder = _encoder()
  boxed = jax.eval_shape(encoder.init, jax.random.key(0), _tokens())
  leaves = jax.tree.leaves(boxed, is_leaf=lambda v: isinstance(v, nn.Partitioned))
  assert leaves and all(isinstance(v, nn.LogicallyPartitioned) for v in leaves)
  for leaf in leaves:
    assert len(leaf.names) == leaf.value.ndim


def test_bad_head_count_is_a_clear_error():
  with pytest.raises(ValueError, match='not divisible by num_heads'):
    _encoder(num_heads=3).init(jax.random.key(0), _tokens())


def test_attention_maps_are_sown_on_request_and_respect_masks():
  encoder = _encoder()
  x = _tokens()
  params = encoder.init(jax.random.key(1), x)
  mask = jnp.array([[True] * 5 + [False], [True] * 6])
  out, state = encoder.apply(params, x, mask=mask, causal=True, mutable=['intermediates'])
  np.testing.assert_allclose(out, encoder.apply(params, x, mask=mask, causal=True), atol=1e-6)
  weights = state['intermediates']['block01']['attention']['attention_weights'][0]
  assert weights.shape == (2, 2, 6, 6)  # [B, N, queries, keys]
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  assert float(weights[0, :, :, 5].max()) == 0.0  # padding gets no attention
  assert float(jnp.triu(weights, k=1).max()) == 0.0  # nor do future tokens


def test_sown_attention_weights_are_the_ones_the_fused_kernel_applies():
  attention = transformer.MultiHeadAttention(num_heads=2)
  x = _tokens()
  params = attention.init(jax.random.key(1), x)
  mask = jnp.array([[True] * 4 + [False] * 2] * 2)
  out, state = attention.apply(params, x, mask, mutable=['intermediates'])
  weights = state['intermediates']['attention_weights'][0]
  p = nn.unbox(params)['params']
  value = jnp.einsum('bld,dnh->blnh', x, p['value_kernel']) + p['value_bias']
  mixed = jnp.einsum('bnqk,bknh->bqnh', weights, value)
  expected = jnp.einsum('blnh,nhd->bld', mixed, p['out_kernel']) + p['out_bias']
  np.testing.assert_allclose(out, expected, atol=1e-5)


def test_erf_gelu_is_the_exact_gelu_and_pytorchs():
  torch = import_or_skip('torch')
  x = np.linspace(-8, 8, 10001, dtype=np.float32)
  ours = np.asarray(transformer.gelu_erf(jnp.asarray(x)))
  # Below x = -5, 1 + erf(x) cancels: 1e-6 absolute, as in PyTorch's own erf form.
  exact = np.asarray(nn.gelu(x, approximate=False))
  np.testing.assert_allclose(ours, exact, atol=2e-6, rtol=1e-6)
  np.testing.assert_allclose(ours, torch.nn.functional.gelu(torch.from_numpy(x)).numpy(),
                             atol=2e-6, rtol=1e-6)
  grad = jax.vmap(jax.grad(transformer.gelu_erf))(jnp.asarray(x))
  reference = jax.vmap(jax.grad(lambda v: nn.gelu(v, approximate=False)))(jnp.asarray(x))
  np.testing.assert_allclose(grad, reference, atol=1e-6, rtol=1e-6)
