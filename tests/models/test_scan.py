"""Scan over layers: same outputs as the unscanned stack from the same params (converted both
ways), stochastic depth still linear in depth, every remat policy inside the scan."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import pretrained
from big_uni.models import build_model, transformer


def _encoder(scan_layers, depth=3, drop_path=0.0, remat_policy='none', **block_fields):
  block = transformer.BlockConfig(**{'num_heads': 2, 'mlp_dim': 32, **block_fields})
  return transformer.Encoder(block, depth, drop_path, remat_policy, scan_layers)


def _tokens(batch=2, length=6, width=16):
  return jax.random.normal(jax.random.key(0), (batch, length, width))


def _params(module, *args):
  return nn.unbox(module.init(jax.random.key(1), *args))


def _close(a, b, atol=1e-5, rtol=1e-6):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol, rtol=rtol), a, b)


@pytest.mark.parametrize('block_fields', [{}, {'norm_first': False},
                                          {'layer_scale_init': 0.1}])
def test_scanned_encoder_equals_unscanned_from_the_same_params(block_fields):
  x, mask = _tokens(), jnp.array([[True] * 4 + [False] * 2] * 2)
  plain, scanned = _encoder(False, **block_fields), _encoder(True, **block_fields)
  params = _params(plain, x)
  stacked = transformer.stack_layers(params)
  assert 'layers' in stacked['params'] and 'block00' not in stacked['params']
  # The converted tree is exactly what the scanned model initialises.
  assert (jax.tree.map(jnp.shape, stacked)
          == jax.tree.map(jnp.shape, jax.eval_shape(lambda: _params(scanned, x))))
  for causal in (False, True):
    _close(plain.apply(params, x, mask, causal), scanned.apply(stacked, x, mask, causal))
  _close(transformer.unstack_layers(stacked), params, atol=0)


def test_scanned_params_carry_the_layers_axis_name():
  boxed = jax.eval_shape(_encoder(True).init, jax.random.key(0), _tokens())
  kernel = boxed['params']['layers']['mlp']['fc1']['kernel']
  assert kernel.names == ('layers', 'embed', 'mlp') and kernel.value.shape == (3, 16, 32)


def test_stochastic_depth_rates_still_grow_linearly_under_scan():
  # drop_path=1 over 2 layers: rates 0 and 1, so the first block always runs and the second
  # always drops its branches; the training output is then deterministic and must match.
  x = _tokens(batch=4)
  plain, scanned = _encoder(False, 2, drop_path=1.0), _encoder(True, 2, drop_path=1.0)
  params = _params(plain, x)
  rngs = {'dropout': jax.random.key(2)}
  out = scanned.apply(transformer.stack_layers(params), x, train=True, rngs=rngs)
  _close(plain.apply(params, x, train=True, rngs=rngs), out)
  assert np.abs(out - plain.apply(params, x)).max() > 1e-3  # The second block did drop.


def test_traced_drop_path_rate_drops_that_fraction_of_examples():
  y = jnp.ones((4000, 1, 1))
  drop = transformer.DropPath(jnp.float32(0.25))  # as under scan: not a Python float
  out = drop.apply({}, y, False, rngs={'dropout': jax.random.key(0)})
  assert abs(float((out == 0).mean()) - 0.25) < 0.03
  np.testing.assert_allclose(out[out > 0], 1 / 0.75, rtol=1e-6)


@pytest.mark.parametrize('policy', sorted(transformer.REMAT_POLICIES))
def test_every_remat_policy_works_under_scan(policy):
  x = _tokens()
  plain, scanned = _encoder(False), _encoder(True, remat_policy=policy)
  params = _params(plain, x)
  stacked = transformer.stack_layers(params)
  loss = lambda module: lambda p: (module.apply(p, x) ** 2).sum()
  np.testing.assert_allclose(loss(plain)(params), loss(scanned)(stacked), rtol=1e-6)
  # Gradients reach ~56 here: 1e-4 is float32 rounding in another summation order.
  _close(transformer.stack_layers(jax.grad(loss(plain))(params)),
         jax.grad(loss(scanned))(stacked), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('policy,saved_per_layer', [
    ('full', ['f32[3,2,6,16]']),  # only each block's input
    ('save_qkv_proj', ['f32[3,2,6,16]'] + ['f32[3,2,2,6,8]'] * 3)])  # and q, k, v [B, N, L, H]
def test_remat_policy_decides_what_the_scan_saves(policy, saved_per_layer, capsys):
  x = _tokens()
  scanned = _encoder(True, remat_policy=policy)
  params = _params(scanned, x)
  jax.ad_checkpoint.print_saved_residuals(lambda p: scanned.apply(p, x).sum(), params)
  saved = [line.split()[0] for line in capsys.readouterr().out.splitlines()
           if 'output of scan' in line]
  assert sorted(saved) == sorted(saved_per_layer)


def _model_config(**fields):
  return ml_collections.ConfigDict(fields)


def test_vit_and_bert_take_scan_layers_from_the_config():
  images = jnp.ones((2, 8, 8, 1))
  vit = dict(name='vit', variant='micro/4', num_classes=3, depth=2)
  plain, scanned = (build_model(_model_config(**vit, scan_layers=s)) for s in (False, True))
  params = _params(plain, images)
  _close(plain.apply(params, images)[0],
         scanned.apply(transformer.stack_layers(params), images)[0])

  ids = jnp.arange(16, dtype=jnp.int32).reshape(2, 8)
  mask = jnp.arange(8)[None] < jnp.array([[5], [8]])
  bert = dict(name='bert_classifier', variant='mini', vocab_size=100, num_classes=2, depth=2,
              dropout=0.0)
  plain, scanned = (build_model(_model_config(**bert, scan_layers=s)) for s in (False, True))
  params = _params(plain, ids, ids * 0, mask)
  assert 'layers' in transformer.stack_layers(params)['params']['text']['encoder']
  _close(plain.apply(params, ids, ids * 0, mask)[0],
         scanned.apply(transformer.stack_layers(params), ids, ids * 0, mask)[0])


def test_pretrained_weights_load_into_either_layout():
  images = jnp.ones((2, 8, 8, 1))
  vit = dict(name='vit', variant='micro/4', num_classes=3, depth=2)
  plain, scanned = (build_model(_model_config(**vit, scan_layers=s)) for s in (False, True))
  plain_params = _params(plain, images)['params']
  scanned_params = jax.tree.map(np.asarray, _params(scanned, images)['params'])
  for source, target in ((plain_params, scanned_params), (scanned_params, plain_params)):
    loaded = transformer.match_layer_layout(jax.device_get(source), target)
    merged, fresh = pretrained.merge(target, loaded)
    assert not fresh
    _close(merged, transformer.match_layer_layout(source, target), atol=0)
