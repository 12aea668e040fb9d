"""MAE: masking, what the encoder sees, the masked-patch loss by hand, shapes and published
counts (eval_shape, nothing allocated)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni.models import build_model, mae


def _mae(encoder, **fields):
  return build_model(ml_collections.ConfigDict({'name': 'mae', 'encoder': encoder, **fields}))


def _tiny():
  return _mae(dict(variant='micro/4', width=32, depth=2, mlp_dim=64, num_heads=2),
              decoder_width=16, decoder_depth=1, decoder_num_heads=2, decoder_mlp_dim=32)


def test_exactly_75_percent_of_patches_are_masked_per_example():
  visible = mae.random_visible(jax.random.key(3), 64, 196, 0.75)  # ViT-B/16's 14 x 14 grid
  assert visible.shape == (64, 49)
  masked = np.asarray(mae.masked(visible, 196))
  assert (masked.sum(1) == 147).all()  # Distinct visible patches: exactly 147 of 196 masked.
  assert len({tuple(row) for row in np.asarray(visible)}) == 64  # A mask of each row's own.


def test_encoder_never_sees_masked_patches():
  model = _tiny()
  images = jax.random.normal(jax.random.key(0), (2, 16, 16, 1))  # 16 patches of 4 x 4
  visible = mae.random_visible(jax.random.key(1), 2, 16, 0.75)
  params = model.init(jax.random.key(2), images, visible)
  encode = lambda x: model.apply(params, x, visible=visible,
                                 method=lambda m, x, visible: m.encoder(x, visible=visible)[1])
  tokens = encode(images)['tokens']
  patches = mae.patchify(images, 4)
  hidden = int(np.asarray(mae.masked(visible, 16))[0].argmax())  # A masked patch of row 0
  seen = int(visible[0, 0])

  def perturbed(patch):
    return mae.unpatchify(patches.at[0, patch].add(5.0), 4, 1)

  assert jnp.array_equal(encode(perturbed(hidden))['tokens'], tokens)
  assert not jnp.allclose(encode(perturbed(seen))['tokens'][0], tokens[0])


def test_loss_is_over_masked_patches_with_normalised_targets_by_hand():
  # One 4 x 4 image, patches of 2 x 2 (4 patches); the encoder sees patch 0 only.
  image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) ** 2
  predicted = np.full((1, 4, 4), 0.5, np.float32)
  errors = np.asarray(mae.patch_errors(predicted, image, 2, norm_pix_loss=True))
  weights = np.asarray(mae.masked(jnp.array([[0]]), 4))
  np.testing.assert_array_equal(weights, [[0, 1, 1, 1]])
  # Patch 1 is the top-right 2 x 2: pixels (0,2),(0,3),(1,2),(1,3) = 4, 9, 36, 49.
  target = np.array([4.0, 9.0, 36.0, 49.0])
  target = (target - target.mean()) / np.sqrt(target.var() + 1e-6)
  np.testing.assert_allclose(errors[0, 1], ((0.5 - target)**2).mean(), rtol=1e-5)
  expected = sum(((0.5 - (t - t.mean()) / np.sqrt(t.var() + 1e-6))**2).mean()
                 for t in (image[0, :2, 2:].ravel(), image[0, 2:, :2].ravel(),
                           image[0, 2:, 2:].ravel())) / 3
  np.testing.assert_allclose((errors * weights).sum() / weights.sum(), expected, rtol=1e-5)
  raw = np.asarray(mae.patch_errors(predicted, image, 2, norm_pix_loss=False))
  np.testing.assert_allclose(raw[0, 1], ((0.5 - np.array([4.0, 9, 36, 49]))**2).mean())


def test_patchify_is_unpatchified_and_in_patch_embedding_order():
  images = jax.random.normal(jax.random.key(0), (2, 8, 12, 3))
  patches = mae.patchify(images, 4)  # A 2 x 3 grid
  assert patches.shape == (2, 6, 48)
  np.testing.assert_array_equal(patches[1, 4], images[1, 4:8, 4:8].reshape(-1))
  square = images[:, :, :8]
  np.testing.assert_array_equal(mae.unpatchify(mae.patchify(square, 4), 4, 3), square)


# GAP (12 s) in the slow call: the README's suite keeps to 15 minutes on 2 cores.
@pytest.mark.parametrize('pool', ['cls', pytest.param('gap', marks=pytest.mark.slow)])
def test_output_shapes(pool):
  model = _mae(dict(variant='micro/4', width=32, depth=2, mlp_dim=64, num_heads=2, pool=pool),
               decoder_width=16, decoder_depth=1, decoder_num_heads=2, decoder_mlp_dim=32)
  images = jnp.ones((3, 16, 16, 2))
  visible = mae.random_visible(jax.random.key(0), 3, 16, 0.75)
  params = model.init(jax.random.key(1), images, visible)
  assert model.apply(params, images, visible).shape == (3, 16, 4 * 4 * 2)
  assert model.apply(params, images, method='encode').shape == (3, 32)


def _counts(variant, image_size=224):
  model = _mae(dict(variant=variant))  # The schema's decoder: the paper's 8 x 512, 16 heads.
  images = jnp.zeros((1, image_size, image_size, 3))
  visible = jnp.zeros((1, 49), jnp.int32)
  shapes = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), images, visible))['params']
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  return count(shapes['encoder']), count(shapes) - count(shapes['encoder'])


# Encoders: ViT-B/16 and L/16 of test_vit.py without their 1000-class heads (the paper's
# "86M" and "304M" plain ViTs). Decoder: embed D -> 512, mask token, 197 x 512 positions, 8
# blocks of 3,152,384, final norm, 512 -> 768 pixels: 26.1M, as the paper's with its
# (there frozen) sin-cos position table counted.
@pytest.mark.parametrize('variant,encoder,decoder', [
    ('B/16', 86_567_656 - 769_000, 26_109_184),
    ('L/16', 304_326_632 - 1_025_000, 26_109_184 + 256 * 512)])
def test_published_parameter_counts(variant, encoder, decoder):
  assert _counts(variant) == (encoder, decoder)
