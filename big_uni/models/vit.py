"""Vision Transformer (Dosovitskiy et al. 2021): patch embedding and heads around the shared Encoder.

Sizes come from a variant string such as 'B/16' (size/patch), decoded by sizes.py as in big_vision.
"""
import dataclasses
import math

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from big_uni import config_schema, errors, flops
from big_uni.models import family, sizes, transformer

# resize method: what it computes, and whose resize it reproduces.
RESIZE_METHODS = {
    'big_vision': 'scipy.ndimage.zoom(order=1), bilinear with the corner embeddings kept: '
                  "big_vision's resample_posemb and vision_transformer's interpolate_posembed",
    'bicubic_torch': "torch's interpolate(mode='bicubic', align_corners=False): HF ViT and CLIP "
                     '(interpolate_pos_encoding), DINOv2, timm and open_clip with antialias=False',
    'bicubic_torch_antialias': "torch's interpolate(mode='bicubic', antialias=True): what timm "
                               'and open_clip do when they load weights at another image size',
}


def check_resize_method(method: str) -> None:
  """Raises UserInputError naming the methods unless `method` is one of RESIZE_METHODS."""
  if method in RESIZE_METHODS:
    return
  methods = '; '.join(f'{name!r}: {what}' for name, what in RESIZE_METHODS.items())
  if method == 'bilinear':  # The old default: half-pixel centres, antialiased when shrinking.
    raise errors.UserInputError(
        "resize='bilinear' (half-pixel centres, antialiased) is gone: it reproduced no source's "
        f'own resize. Name the one to reproduce: {methods}')
  raise errors.UserInputError(f'resize method {method!r}: use one of {methods}')


def resize_pos_embedding(pos_embedding: np.ndarray, num_tokens: int, num_prefix: int = 1,
                         method: str = 'big_vision') -> np.ndarray:
  """[1, prefix + g*g, D] -> [1, num_tokens, D]: the g x g grid resized (fine-tuning at another
  resolution or patch grid) by one of RESIZE_METHODS; prefix tokens ([CLS]) are kept as they are."""
  check_resize_method(method)
  prefix, grid = pos_embedding[:, :num_prefix], pos_embedding[0, num_prefix:]
  old, new = math.isqrt(grid.shape[0]), math.isqrt(num_tokens - num_prefix)
  if old * old != grid.shape[0] or new * new != num_tokens - num_prefix:
    raise ValueError(f'cannot resize position embeddings of {pos_embedding.shape[1]} tokens to '
                     f'{num_tokens}: both must be {num_prefix} + a square grid')
  grid = grid.reshape(old, old, -1)
  if method == 'big_vision':  # The very call of big_vision's resample_posemb.
    import scipy.ndimage  # pylint: disable=g-import-not-at-top
    resized = scipy.ndimage.zoom(grid, (new / old, new / old, 1), order=1)
  else:
    weights = (_bicubic_antialias_matrix if method == 'bicubic_torch_antialias'
               else _bicubic_matrix)(old, new)
    resized = np.einsum('yi,xj,ijd->yxd', weights, weights, grid)
  return np.concatenate([prefix, resized.reshape(1, new * new, -1)], axis=1).astype(
      pos_embedding.dtype)


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
  """Keys' cubic convolution kernel with parameter `a` (support [-2, 2])."""
  t = np.abs(t)
  return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                  np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def _bicubic_matrix(old: int, new: int) -> np.ndarray:
  """[new, old] weights of PyTorch's bicubic: a=-0.75, half-pixel centres, edges clamped."""
  source = (np.arange(new) + 0.5) * old / new - 0.5
  taps = np.floor(source)[:, None] + np.arange(-1, 3)[None]  # [new, 4]
  weights = _cubic(source[:, None] - taps, -0.75)
  matrix = np.zeros((new, old))
  np.add.at(matrix, (np.arange(new)[:, None].repeat(4, 1), np.clip(taps, 0, old - 1).astype(int)),
            weights)
  return matrix


def _bicubic_antialias_matrix(old: int, new: int) -> np.ndarray:
  """[new, old] weights of PyTorch's antialiased bicubic (UpSampleKernel.cpp's aa filter): PIL's
  a=-0.5, the kernel stretched by old/new when shrinking, taps outside the grid dropped and each
  row renormalised (no clamping)."""
  scale = old / new
  stretch = max(scale, 1.0)
  centres = scale * (np.arange(new) + 0.5)  # [new], in input pixels
  first = np.maximum((centres - 2 * stretch + 0.5).astype(int), 0)  # C++ casts truncate, too.
  stop = np.minimum((centres + 2 * stretch + 0.5).astype(int), old)
  taps = np.arange(old)[None]  # [1, old]
  weights = _cubic((taps - centres[:, None] + 0.5) / stretch, -0.5)
  weights = np.where((taps >= first[:, None]) & (taps < stop[:, None]), weights, 0.0)
  return weights / weights.sum(axis=1, keepdims=True)


class ViT(nn.Module):
  """images [B, H, W, C] -> (logits [B, num_classes] or None, features dict).

  num_classes=0 leaves out the head (CLIP's image tower, feature extraction); its features
  'pre_logits' [B, D] and 'tokens' [B, L, D] are there either way.

  distillation=True (DeiT, Touvron et al. 2021): a learned distillation token after [CLS], with
  its own position embedding and its own head 'dist_head'; the logits are the average of the two
  heads' (the test-time rule of DeiT's code), and the features add each head's own,
  'cls_logits' and 'dist_logits' [B, num_classes], which distillation trains apart.
  """
  family = 'vit'  # Its models.family entry (registered at the end of this file).
  num_classes: int
  width: int
  depth: int
  mlp_dim: int
  num_heads: int
  patch_size: int
  pool: str = 'cls'  # 'cls' token or 'gap' (global average of patch tokens)
  # big_vision's placement: `dropout` on the embeddings, the branch outputs and (mlp_dropout
  # None) inside the MLP; none on the attention probabilities.
  dropout: float = 0.0
  attention_dropout: float = 0.0
  mlp_dropout: float | None = None  # None: `dropout`.
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
  distillation: bool = False  # DeiT's distillation token and head

  @property
  def num_prefix(self) -> int:
    """Tokens before the patches: [CLS] (pool='cls'), then DeiT's distillation token."""
    return int(self.pool == 'cls') + int(self.distillation)

  @nn.compact
  def __call__(self, images, train=False, visible=None):
    """visible: int [B, K] indices of the only patches (row-major) the encoder sees, each with
    its own position embedding (MAE's encoder); None: all of them. [CLS] is always there."""
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

    if self.pool not in ('cls', 'gap'):
      raise ValueError(f"unknown pool {self.pool!r}: use 'cls' or 'gap'")
    if self.distillation and self.pool != 'cls':
      raise errors.UserInputError("model.distillation needs pool='cls': DeiT's heads read the "
                                  '[CLS] and distillation tokens')
    num_prefix = self.num_prefix
    if num_prefix:
      cls = self.param('cls_token', nn.with_logical_partitioning(nn.initializers.zeros,
                                                                 (None, None, 'embed')),
                       (1, 1, self.width))
    if self.distillation:  # Zeros like [CLS]; its position embedding tells the two apart.
      cls = jnp.concatenate([cls, self.param(
          'dist_token', nn.with_logical_partitioning(nn.initializers.zeros,
                                                     (None, None, 'embed')),
          (1, 1, self.width))], axis=1)  # [1, 2, D]
    # Learned 1D position embeddings, one per token ([CLS] included, as in the paper and timm),
    # added before `visible` picks patches so that each keeps its own.
    pos_embedding = self.param(
        'pos_embedding',
        nn.with_logical_partitioning(nn.initializers.normal(stddev=0.02),
                                     (None, 'length', 'embed')),
        (1, num_prefix + tokens.shape[1], self.width)).astype(tokens.dtype)
    tokens = tokens + pos_embedding[:, num_prefix:]
    if visible is not None:
      tokens = jnp.take_along_axis(tokens, visible[..., None], axis=1)  # [B, K, D]
    if num_prefix:
      cls = cls.astype(tokens.dtype) + pos_embedding[:, :num_prefix]
      tokens = jnp.concatenate([jnp.tile(cls, (batch, 1, 1)), tokens], 1)
    if self.pre_norm:
      tokens = transformer.layer_norm('pre_norm', self.layer_norm_eps, self.dtype)(tokens)
    tokens = nn.Dropout(self.dropout)(tokens, deterministic=not train)

    block = transformer.BlockConfig(
        num_heads=self.num_heads, mlp_dim=self.mlp_dim, norm_first=True,
        activation=self.activation, layer_norm_eps=self.layer_norm_eps, dropout=self.dropout,
        attention_dropout=self.attention_dropout,
        mlp_dropout=self.dropout if self.mlp_dropout is None else self.mlp_dropout,
        dtype=self.dtype, attention_impl=self.attention_impl,
        layer_scale_init=self.layer_scale_init)
    encoded = transformer.Encoder(block, self.depth, self.drop_path, self.remat_policy,
                                  self.scan_layers, name='encoder')(tokens, train=train)

    pre_logits = encoded[:, 0] if self.pool == 'cls' else encoded.mean(axis=1)  # [B, D]
    features = {'pre_logits': pre_logits, 'tokens': encoded}
    if not self.num_classes:
      return None, features
    logits = self._head('head', pre_logits)
    if not self.distillation:
      return logits, features
    dist_logits = self._head('dist_head', encoded[:, 1])
    features.update(cls_logits=logits, dist_logits=dist_logits)
    return (logits + dist_logits) / 2, features

  def _head(self, name: str, pre_logits):
    """[B, D] -> float32 logits [B, num_classes] of a zero-initialised head (as in big_vision):
    the first steps start from uniform predictions."""
    return nn.Dense(
        self.num_classes, dtype=self.dtype, name=name,
        kernel_init=nn.with_logical_partitioning(nn.initializers.zeros, ('embed', 'classes')),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ('classes',)))(
            pre_logits).astype(jnp.float32)


def build(model_config) -> ViT:
  """The variant's sizes (those the config sets replace them), then the other ViT fields."""
  model_config = config_schema.completed(model_config, config_schema.VIT)
  fields = sizes.decode(model_config.variant, 'ViT')
  names = {f.name for f in dataclasses.fields(ViT)} - {'parent', 'name'}
  # A size left None is the variant's; every other field is the config's (mlp_dropout None
  # means `dropout`).
  fields.update({k: v for k, v in model_config.items()
                 if k in names and not (v is None and k in fields)})
  fields['dtype'] = transformer.compute_dtype(model_config.dtype)
  fields['attention_impl'] = transformer.attention_impl(model_config.attention_impl)
  return ViT(**fields)


def tower(tower_config) -> ViT:
  """The headless ViT of an image tower's section (config_schema.VIT_TOWER) that another model
  reads the 'tokens' or 'pre_logits' features of (CLIP, the captioner, MAE's encoder)."""
  tower_config = tower_config.copy_and_resolve_references()
  with tower_config.unlocked():
    tower_config.num_classes = 0
  return build(tower_config)


def num_patches(model: ViT, image_shape) -> int:
  """Patches of one [H, W, ...] image."""
  return (image_shape[0] // model.patch_size) * (image_shape[1] // model.patch_size)


def forward_flops(model: ViT, image_shape) -> tuple[float, float]:
  """(FLOPs through the patch embedding, the rest) for one image [H, W, C]; the embedding is
  apart because its input needs no gradient."""
  patches = num_patches(model, image_shape)
  patch_embed = 2 * patches * model.patch_size**2 * image_shape[2] * model.width
  tokens = patches + model.num_prefix
  rest = flops.encoder_forward(tokens, model.width, model.depth, model.mlp_dim)
  heads = 1 + model.distillation
  return patch_embed, rest + heads * 2 * model.width * model.num_classes


def train_flops(model: ViT, batch_shapes) -> float:
  batch, *image_shape = batch_shapes['image']
  patch_embed, rest = forward_flops(model, image_shape)
  return batch * (2 * patch_embed + 3 * rest)


def tokens_per_example(model: ViT, batch_shapes) -> int:
  return num_patches(model, batch_shapes['image'][1:]) + model.num_prefix


def export(params, config):
  """-> HF ViTForImageClassification (ViTModel without a head)."""
  from big_uni.convert import hf_vit  # pylint: disable=g-import-not-at-top
  model = build(config.model)
  if model.distillation:
    raise errors.UserInputError('HF ViT has no distillation token: a model.distillation=True '
                                'ViT cannot be exported to its layout')
  return hf_vit.export(params, model)


family.FAMILIES.register('vit', family.Family(build, train_flops, tokens_per_example, export))
