"""Vision Transformer (Dosovitskiy et al. 2021): patch embedding and heads around the shared Encoder.

Sizes are one table, selected by a variant string such as 'B/16' (size/patch), as in big_vision.
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from big_uni import errors
from big_uni.models import transformer

# name: (width, depth, mlp_dim, num_heads), from the ViT paper's Table 1 (Ti, S from DeiT).
# 'mu' is a micro size for CPU-scale data such as 28x28 digits.
SIZES = {
    'mu': (64, 4, 256, 4),
    'Ti': (192, 12, 768, 3),
    'S': (384, 12, 1536, 6),
    'B': (768, 12, 3072, 12),
    'L': (1024, 24, 4096, 16),
    'H': (1280, 32, 5120, 16),
}


def decode_variant(variant: str) -> dict:
  """'B/16' -> dict(width=768, depth=12, mlp_dim=3072, num_heads=12, patch_size=16)."""
  size, _, patch = variant.partition('/')
  if size not in SIZES or not patch.isdigit():
    raise ValueError(f'unknown ViT variant {variant!r}: expected "<size>/<patch>" with size in '
                     f'{list(SIZES)}, e.g. "B/16"')
  width, depth, mlp_dim, num_heads = SIZES[size]
  return dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads,
              patch_size=int(patch))


def resize_pos_embedding(pos_embedding: np.ndarray, num_tokens: int, num_prefix: int = 1,
                         method: str = 'bilinear') -> np.ndarray:
  """[1, prefix + g*g, D] -> [1, num_tokens, D]: the g x g grid resized (fine-tuning at another
  resolution or patch grid); prefix tokens ([CLS]) are kept as they are.

  method: 'bilinear' (antialiased when shrinking; big_vision's choice) or 'bicubic_torch'
  (PyTorch's bicubic, a=-0.75, no antialiasing: how DINOv2 resizes its own grid)."""
  prefix, grid = pos_embedding[:, :num_prefix], pos_embedding[0, num_prefix:]
  old, new = math.isqrt(grid.shape[0]), math.isqrt(num_tokens - num_prefix)
  if old * old != grid.shape[0] or new * new != num_tokens - num_prefix:
    raise ValueError(f'cannot resize position embeddings of {pos_embedding.shape[1]} tokens to '
                     f'{num_tokens}: both must be {num_prefix} + a square grid')
  grid = grid.reshape(old, old, -1)
  if method == 'bilinear':
    resized = np.asarray(jax.image.resize(grid, (new, new, grid.shape[-1]), 'bilinear',
                                          antialias=new < old))
  elif method == 'bicubic_torch':
    weights = _bicubic_matrix(old, new)
    resized = np.einsum('yi,xj,ijd->yxd', weights, weights, grid)
  else:
    raise ValueError(f"resize method {method!r}: use 'bilinear' or 'bicubic_torch'")
  return np.concatenate([prefix, resized.reshape(1, new * new, -1)], axis=1).astype(
      pos_embedding.dtype)


def _bicubic_matrix(old: int, new: int, a: float = -0.75) -> np.ndarray:
  """[new, old] weights of 1D cubic convolution (half-pixel centres, edges clamped)."""
  def kernel(t):
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))
  source = (np.arange(new) + 0.5) * old / new - 0.5
  taps = np.floor(source)[:, None] + np.arange(-1, 3)[None]  # [new, 4]
  weights = kernel(source[:, None] - taps)
  matrix = np.zeros((new, old))
  np.add.at(matrix, (np.arange(new)[:, None].repeat(4, 1), np.clip(taps, 0, old - 1).astype(int)),
            weights)
  return matrix


class ViT(nn.Module):
  """images [B, H, W, C] -> (logits [B, num_classes] or None, features dict).

  num_classes=0 leaves out the head (CLIP's image tower, feature extraction); its features
  'pre_logits' [B, D] and 'tokens' [B, L, D] are there either way.
  """
  num_classes: int
  width: int
  depth: int
  mlp_dim: int
  num_heads: int
  patch_size: int
  pool: str = 'cls'  # 'cls' token or 'gap' (global average of patch tokens)
  dropout: float = 0.0
  drop_path: float = 0.0
  layer_norm_eps: float = 1e-6
  remat_policy: str = 'none'
  scan_layers: bool = False
  dtype: jnp.dtype = jnp.float32
  attention_impl: str | None = None
  activation: str = 'gelu'  # 'quick_gelu' in OpenAI CLIP
  patch_bias: bool = True  # OpenAI CLIP's patch embedding has none
  pre_norm: bool = False  # LayerNorm before the encoder (OpenAI CLIP's ln_pre)
  layer_scale_init: float = 0.0  # DINOv2

  @nn.compact
  def __call__(self, images, train=False):
    height, width = images.shape[1:3]
    if height % self.patch_size or width % self.patch_size:
      raise errors.UserInputError(
          f'image size {height}x{width} is not divisible by patch size {self.patch_size}: '
          'change input.image_size or model.variant (model.patch_size)')
    patches = nn.Conv(
        self.width, (self.patch_size, self.patch_size), strides=self.patch_size,
        padding='VALID', dtype=self.dtype, name='patch_embed', use_bias=self.patch_bias,
        kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(),
                                                 (None, None, None, 'embed')),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ('embed',)))(images)
    batch = patches.shape[0]
    tokens = patches.reshape(batch, -1, self.width)  # [B, num_patches, D]

    if self.pool == 'cls':
      cls = self.param('cls_token', nn.with_logical_partitioning(nn.initializers.zeros,
                                                                 (None, None, 'embed')),
                       (1, 1, self.width))
      tokens = jnp.concatenate([jnp.tile(cls, (batch, 1, 1)).astype(tokens.dtype), tokens], 1)
    elif self.pool != 'gap':
      raise ValueError(f"unknown pool {self.pool!r}: use 'cls' or 'gap'")

    # Learned 1D position embeddings, one per token ([CLS] included, as in the paper and timm).
    pos_embedding = self.param(
        'pos_embedding',
        nn.with_logical_partitioning(nn.initializers.normal(stddev=0.02),
                                     (None, 'length', 'embed')),
        (1, tokens.shape[1], self.width))
    tokens = tokens + pos_embedding.astype(tokens.dtype)
    if self.pre_norm:
      tokens = transformer.layer_norm('pre_norm', self.layer_norm_eps, self.dtype)(tokens)
    tokens = nn.Dropout(self.dropout)(tokens, deterministic=not train)

    block = transformer.BlockConfig(
        num_heads=self.num_heads, mlp_dim=self.mlp_dim, norm_first=True,
        activation=self.activation, layer_norm_eps=self.layer_norm_eps, dropout=self.dropout,
        dtype=self.dtype, attention_impl=self.attention_impl,
        layer_scale_init=self.layer_scale_init)
    encoded = transformer.Encoder(block, self.depth, self.drop_path, self.remat_policy,
                                  self.scan_layers, name='encoder')(tokens, train=train)

    pre_logits = encoded[:, 0] if self.pool == 'cls' else encoded.mean(axis=1)  # [B, D]
    features = {'pre_logits': pre_logits, 'tokens': encoded}
    if not self.num_classes:
      return None, features
    # Zero-initialised head (as in big_vision): the first steps start from uniform predictions.
    logits = nn.Dense(
        self.num_classes, dtype=self.dtype, name='head',
        kernel_init=nn.with_logical_partitioning(nn.initializers.zeros, ('embed', 'classes')),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ('classes',)))(pre_logits)
    return logits.astype(jnp.float32), features
