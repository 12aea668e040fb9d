"""Masked Autoencoder (He et al. 2022): a ViT encoder on a random 25% of the patches, a light
decoder that predicts the pixels of every patch from them and a learned mask token elsewhere.

The encoder is `vit.ViT` without a head (its params under 'encoder', as a ViT classifier's, so
`config.init` with source='encoder' fine-tunes it); [CLS] goes through the encoder and the
decoder as in the paper's implementation. The decoder is the shared transformer.Encoder,
narrower, with learned position embeddings (the paper's are fixed 2D sin-cos).

Shapes: B batch, N patches, K visible patches, P = patch_size**2 * channels pixels a patch,
D encoder width, E decoder width.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from big_uni import config_schema, flops
from big_uni.models import family, transformer, vit


def patchify(images, patch_size: int):
  """images [B, H, W, C] -> patches [B, N, P], row-major patches of (row, column, channel)
  pixels: the order of ViT's patch embedding and of the paper's patchify."""
  batch, height, width, channels = images.shape
  rows, cols = height // patch_size, width // patch_size
  patches = images.reshape(batch, rows, patch_size, cols, patch_size, channels)
  return patches.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows * cols, -1)


def unpatchify(patches, patch_size: int, channels: int):
  """patches [B, N, P] (N a square) -> images [B, H, W, C]: patchify's inverse."""
  batch, num_patches, _ = patches.shape
  side = int(round(num_patches**0.5))
  images = patches.reshape(batch, side, side, patch_size, patch_size, channels)
  return images.transpose(0, 1, 3, 2, 4, 5).reshape(batch, side * patch_size,
                                                    side * patch_size, channels)


def num_visible(num_patches: int, mask_ratio: float) -> int:
  """K of N patches the encoder sees (the paper's len_keep)."""
  return int(num_patches * (1 - mask_ratio))


def random_visible(rng, batch: int, num_patches: int, mask_ratio: float):
  """int32 [B, K]: per row the first K of a uniformly random permutation of the N patches."""
  noise = jax.random.uniform(rng, (batch, num_patches))
  return jnp.argsort(noise, axis=1)[:, :num_visible(num_patches, mask_ratio)].astype(jnp.int32)


def masked(visible, num_patches: int):
  """float32 [B, N]: 1 at the patches `visible` [B, K] leaves out, 0 at those it names."""
  rows = jnp.arange(visible.shape[0])[:, None]
  return jnp.ones((visible.shape[0], num_patches), jnp.float32).at[rows, visible].set(0.0)


def patch_errors(predicted, images, patch_size: int, norm_pix_loss: bool):
  """float32 [B, N]: the mean squared error over each patch's pixels of `predicted` [B, N, P]
  against `images` [B, H, W, C]; norm_pix_loss: against each target patch minus its mean, over
  sqrt(its variance + 1e-6)."""
  targets = patchify(images.astype(jnp.float32), patch_size)
  if norm_pix_loss:
    mean, var = targets.mean(-1, keepdims=True), targets.var(-1, keepdims=True)
    targets = (targets - mean) / jnp.sqrt(var + 1e-6)
  return ((predicted - targets)**2).mean(-1)


class MAE(nn.Module):
  """(images [B, H, W, C], visible int [B, K]) -> predicted pixels [B, N, P] (float32) of every
  patch, in patchify's order (the loss reads the masked ones)."""
  family = 'mae'  # Its models.family entry (registered at the end of this file).
  encoder: vit.ViT  # Without a head.
  decoder_width: int
  decoder_depth: int
  decoder_num_heads: int
  decoder_mlp_dim: int
  mask_ratio: float = 0.75
  norm_pix_loss: bool = True

  @nn.compact
  def __call__(self, images, visible, train=False):
    encoder = self.encoder
    _, features = encoder(images, train=train, visible=visible)
    embedded = nn.Dense(self.decoder_width, dtype=encoder.dtype, name='decoder_embed',
                        kernel_init=transformer.dense_init(('embed', 'mlp')),
                        bias_init=transformer.dense_init(('mlp',), nn.initializers.zeros))(
                            features['tokens'])  # [B, prefix + K, E]
    num_prefix = int(encoder.pool == 'cls')
    batch, num_patches = images.shape[0], vit.num_patches(encoder, images.shape[1:])
    mask_token = self.param('mask_token', nn.with_logical_partitioning(
        nn.initializers.normal(stddev=0.02), (None, None, 'embed')), (1, 1, self.decoder_width))
    # The encoded visible patches back at their places, the mask token everywhere else.
    grid = jnp.broadcast_to(mask_token.astype(embedded.dtype),
                            (batch, num_patches, self.decoder_width))
    grid = grid.at[jnp.arange(batch)[:, None], visible].set(embedded[:, num_prefix:])
    tokens = jnp.concatenate([embedded[:, :num_prefix], grid], axis=1)
    pos_embedding = self.param('decoder_pos_embedding', nn.with_logical_partitioning(
        nn.initializers.normal(stddev=0.02), (None, 'length', 'embed')),
                               (1, num_prefix + num_patches, self.decoder_width))
    tokens = tokens + pos_embedding.astype(tokens.dtype)
    block = transformer.BlockConfig(
        num_heads=self.decoder_num_heads, mlp_dim=self.decoder_mlp_dim, norm_first=True,
        activation=encoder.activation, layer_norm_eps=encoder.layer_norm_eps,
        dtype=encoder.dtype, attention_impl=encoder.attention_impl)
    decoded = transformer.Encoder(block, self.decoder_depth, remat_policy=encoder.remat_policy,
                                  scan_layers=encoder.scan_layers, name='decoder')(
                                      tokens, train=train)
    pixels = encoder.patch_size**2 * images.shape[-1]
    predicted = nn.Dense(pixels, dtype=encoder.dtype, name='decoder_pred',
                         kernel_init=transformer.dense_init(('embed', None)),
                         bias_init=transformer.dense_init((None,), nn.initializers.zeros))(
                             decoded[:, num_prefix:])
    return predicted.astype(jnp.float32)

  def encode(self, images):
    """images [B, H, W, C] -> the encoder's features of all patches [B, D] ([CLS], or the mean
    for pool='gap'): what a probe or fine-tuning starts from."""
    return self.encoder(images)[1]['pre_logits']


def build(model_config) -> MAE:
  """`model_config.encoder` is a ViT config (its head left out); the decoder and masking fields
  are the MAE's own."""
  model_config = config_schema.completed(model_config, config_schema.MODEL)
  return MAE(vit.tower(model_config.encoder),
             **{k: model_config[k] for k in ('decoder_width', 'decoder_depth',
                                              'decoder_num_heads', 'decoder_mlp_dim',
                                              'mask_ratio', 'norm_pix_loss')})


def _lengths(model: MAE, image_shape) -> tuple[int, int, int]:
  """(N, encoder positions, decoder positions) of one image [H, W, C]."""
  num_patches = vit.num_patches(model.encoder, image_shape)
  num_prefix = int(model.encoder.pool == 'cls')
  return (num_patches, num_prefix + num_visible(num_patches, model.mask_ratio),
          num_prefix + num_patches)


def train_flops(model: MAE, batch_shapes) -> float:
  batch, *image_shape = batch_shapes['image']
  num_patches, encoded, decoded = _lengths(model, image_shape)
  enc, width = model.encoder, model.encoder.width
  # The patch embedding runs on every patch, then the visible ones are picked (no gradient in).
  patch_embed = 2 * num_patches * enc.patch_size**2 * image_shape[2] * width
  rest = (flops.encoder_forward(encoded, width, enc.depth, enc.mlp_dim)
          + 2 * encoded * width * model.decoder_width
          + flops.encoder_forward(decoded, model.decoder_width, model.decoder_depth,
                                  model.decoder_mlp_dim)
          + 2 * num_patches * model.decoder_width * enc.patch_size**2 * image_shape[2])
  return batch * (2 * patch_embed + 3 * rest)


def tokens_per_example(model: MAE, batch_shapes) -> int:
  """Positions through the encoder and the decoder."""
  _, encoded, decoded = _lengths(model, batch_shapes['image'][1:])
  return encoded + decoded


family.FAMILIES.register('mae', family.Family(build, train_flops, tokens_per_example))
