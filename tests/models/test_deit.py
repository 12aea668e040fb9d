"""DeiT's distillation token on the ViT: published sizes (--mode=shapes' count), the two heads and
their test-time average, and the plain ViT unchanged when the flag is off."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import pytest

from big_uni import errors, shapes
from big_uni.models import build_model, vit
from configs import deit_fashion_mnist


def _vit(**fields):
  return build_model(ml_collections.ConfigDict({'name': 'vit', 'num_classes': 7, **fields}))


def _init(model, images):
  """Unboxed params of `model` (jitted: one compilation instead of one per op)."""
  return nn.unbox(jax.jit(model.init)(jax.random.key(0), images))['params']


def _apply(model, params, images):
  return jax.jit(model.apply)({'params': params}, images)


def _perturbed(params, seed: int = 1):
  """Every param replaced by noise: zero-initialised heads and tokens would hide mix-ups."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [0.5 * jax.random.normal(k, x.shape) for k, x in
                                   zip(keys, leaves)])


# timm's deit_{tiny,small,base}_distilled_patch16_224 (1000 classes, 224 px): the plain DeiT's
# 5,717,416 / 22,050,664 / 86,567,656 plus the distillation token, its position embedding and
# a second head (the paper's DeiT-B "87M").
@pytest.mark.parametrize('size,expected', [
    ('Ti', 5_910_800), ('S', 22_436_432), ('B', 87_338_192)])
def test_published_parameter_counts(size, expected):
  """`--mode=shapes` (nothing allocated): the student's count trained, beside it the imported
  teacher's frozen, timm's deit_base_patch16_224."""
  lines = shapes.describe(deit_fashion_mnist.get_config(f'size={size}')).splitlines()
  assert lines[-2:] == [f'frozen_params=86567656 trained_params={expected}',
                        f'total_params={86_567_656 + expected}']


def test_output_shapes_and_param_names():
  model = _vit(variant='micro/4', distillation=True)
  images = jnp.ones((3, 16, 16, 1))
  params = _init(model, images)
  assert params['dist_token'].shape == params['cls_token'].shape == (1, 1, 64)
  assert params['pos_embedding'].shape == (1, 2 + 16, 64)
  assert params['dist_head']['kernel'].shape == params['head']['kernel'].shape == (64, 7)
  logits, features = _apply(model, params, images)
  assert logits.shape == features['cls_logits'].shape == features['dist_logits'].shape == (3, 7)
  assert features['tokens'].shape == (3, 2 + 16, 64)
  assert vit.tokens_per_example(model, {'image': (3, 16, 16, 1)}) == 18


def test_test_time_output_averages_the_heads_of_their_own_tokens():
  model = _vit(variant='micro/4', distillation=True)
  images = jax.random.normal(jax.random.key(2), (2, 8, 8, 1))
  params = _perturbed(_init(model, images))
  logits, features = _apply(model, params, images)
  tokens = features['tokens']

  def head(name, token):
    return token @ params[name]['kernel'] + params[name]['bias']

  assert jnp.allclose(features['cls_logits'], head('head', tokens[:, 0]), atol=1e-5)
  assert jnp.allclose(features['dist_logits'], head('dist_head', tokens[:, 1]), atol=1e-5)
  assert not jnp.allclose(features['cls_logits'], features['dist_logits'], atol=1e-2)
  assert jnp.array_equal(logits, (features['cls_logits'] + features['dist_logits']) / 2)


def test_flag_off_is_the_plain_vit():
  """The same params tree as before the flag existed, and the head on [CLS]: the importers'
  parity tests (tests/convert) pin its outputs to timm's and HF's (and at commit 20ce62f it
  was checked bit-identical to vit.py before the flag, for cls/gap pooling, no head, bfloat16,
  pre_norm and MAE's `visible`)."""
  images = jax.random.normal(jax.random.key(2), (2, 8, 8, 1))
  plain = _vit(variant='micro/4', distillation=False)
  params = _perturbed(_init(plain, images))
  assert sorted(params) == ['cls_token', 'encoder', 'head', 'patch_embed', 'pos_embedding']
  assert params['pos_embedding'].shape == (1, 1 + 4, 64)
  logits, features = _apply(plain, params, images)
  assert set(features) == {'pre_logits', 'tokens'}
  assert jnp.allclose(logits, features['pre_logits'] @ params['head']['kernel']
                      + params['head']['bias'], atol=1e-5)
  # The distillation model's own params minus its token, its position and its head is the same
  # tree: the two differ only by what the flag adds.
  distilled = jax.eval_shape(_vit(variant='micro/4', distillation=True).init,
                             jax.random.key(0), images)['params']
  assert sorted(distilled) == sorted([*params, 'dist_head', 'dist_token'])


def test_distillation_needs_the_cls_token():
  model = _vit(variant='micro/4', distillation=True, pool='gap')
  with pytest.raises(errors.UserInputError, match="distillation needs pool='cls'"):
    model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
