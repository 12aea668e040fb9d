"""ViT: published parameter counts (eval_shape, nothing allocated), heads, input checks."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import pytest

from big_uni.models import build_model


def _vit(**fields):
  return build_model(ml_collections.ConfigDict({'name': 'vit', 'num_classes': 1000, **fields}))


def _num_params(model, image_size):
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          jnp.zeros((1, image_size, image_size, 3)))
  return sum(x.size for x in jax.tree.leaves(nn.unbox(shapes)))


# The same shapes built in timm (num_classes=1000, 224px): vit_{tiny,small,base,large}_patch16_224.
# For H/14 the issue quotes 630,764,800, which is timm without the 1000-class head
# (1,281,000 params); with the head it is 632,045,800, the paper's "632M".
@pytest.mark.parametrize('variant,expected', [
    ('Ti/16', 5_717_416), ('S/16', 22_050_664), ('B/16', 86_567_656), ('L/16', 304_326_632),
    ('H/14', 632_045_800)])
def test_published_parameter_counts(variant, expected):
  assert _num_params(_vit(variant=variant), 224) == expected


def test_h14_without_head_matches_timm_headless_count():
  assert _num_params(_vit(variant='H/14'), 224) - (1280 * 1000 + 1000) == 630_764_800


@pytest.mark.parametrize('pool', ['cls', 'gap'])
def test_output_shapes(pool):
  model = _vit(variant='micro/4', num_classes=7, pool=pool)
  images = jnp.ones((3, 16, 16, 1))
  params = model.init(jax.random.key(0), images)
  logits, features = model.apply(params, images)
  assert logits.shape == (3, 7)
  assert features['pre_logits'].shape == (3, 64)
  assert features['tokens'].shape == (3, 16 + (pool == 'cls'), 64)


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model = _vit(variant='micro/4', num_classes=5, dtype='bfloat16')
  images = jnp.ones((2, 8, 8, 3))
  params = model.init(jax.random.key(0), images)
  assert {x.dtype for x in jax.tree.leaves(nn.unbox(params))} == {jnp.dtype('float32')}
  logits, features = model.apply(params, images)
  assert logits.dtype == jnp.float32 and features['tokens'].dtype == jnp.bfloat16


def test_image_size_not_divisible_by_patch_is_a_clear_error():
  with pytest.raises(ValueError, match='not divisible by patch size 16'):
    _vit(variant='B/16').init(jax.random.key(0), jnp.zeros((1, 100, 100, 3)))


def test_unknown_variant_is_a_clear_error():
  with pytest.raises(ValueError, match='unknown ViT variant'):
    _vit(variant='XL/16')


def test_visible_patches_keep_their_own_position_embeddings():
  """All patches in order are the plain ViT; a permutation of them permutes the patch outputs
  (attention does not see order, so only the position embeddings can tell patches apart)."""
  model = _vit(variant='micro/4', num_classes=0)
  images = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
  params = model.init(jax.random.key(0), images)
  tokens = model.apply(params, images)[1]['tokens']  # [2, 1 + 4, D]
  order = jnp.array([[0, 1, 2, 3], [0, 1, 2, 3]])
  assert jnp.array_equal(model.apply(params, images, visible=order)[1]['tokens'], tokens)
  shuffled = jnp.array([[2, 0, 3, 1], [3, 2, 1, 0]])
  picked = model.apply(params, images, visible=shuffled[:, :3])[1]['tokens']
  assert picked.shape == (2, 1 + 3, 64)
  full = model.apply(params, images, visible=shuffled)[1]['tokens']
  expected = jnp.take_along_axis(tokens[:, 1:], shuffled[..., None], axis=1)
  assert jnp.allclose(full[:, 1:], expected, atol=1e-5)
  assert jnp.allclose(full[:, 0], tokens[:, 0], atol=1e-5)
