"""CLIP (Radford et al. 2021): two towers of the shared Encoder and projections to a joint space.

The image tower is `vit.ViT` without a head, the text tower `text.TextEncoder` (OpenAI: causal,
no segments, pooled at the last real token). Shapes: B batch, L text tokens, E joint width.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from big_uni import config_schema, flops
from big_uni.models import family, text, vit

TEXT_POOLING = ('last', 'first', 'mean')


def l2_normalize(x, eps=1e-6):
  # Not numerics.l2_normalize (the evaluators'): eps under the root keeps the gradient finite at
  # zero, and every CLIP result was trained and measured with it.
  return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


class CLIP(nn.Module):
  """-> (image embeddings [B, E], text embeddings [B, E]), unit norm; the logits of a pair are
  exp(logit_scale) * image . text + logit_bias (`logit_scale_and_bias`).

  149,620,737 params for B/16 and 427,616,513 for L/14, as OpenAI's (a SigLIP bias adds 1).
  """
  family = 'clip'  # Its models.family entry (registered at the end of this file).
  image: vit.ViT
  text: text.TextEncoder
  embed_dim: int
  text_pool: str = 'last'  # 'last' real token (OpenAI's EOT), 'first' ([CLS]), 'mean'
  logit_scale_init: float = float(np.log(1 / 0.07))  # SigLIP: log(10)
  logit_bias_init: float | None = None  # SigLIP: -10; None: no bias (softmax CLIP)
  # OpenAI clamps the logit_scale *param* to [0, log 100] after each update (the trainer does,
  # through ContrastiveTask.constrain_params): a clamp in the forward pass would zero its gradient.
  max_logit_scale: float = 100.0
  # LiT: a locked tower gets no backward pass (its projection still trains); the optimizer must
  # also freeze it (optimizer.frozen) so that weight decay leaves it alone.
  lock_image: bool = False
  lock_text: bool = False

  def setup(self):
    if self.text_pool not in TEXT_POOLING:
      raise ValueError(f'text_pool={self.text_pool!r}: use one of {TEXT_POOLING}')
    dtype = self.text.block.dtype

    def projection(names):
      return nn.Dense(self.embed_dim, use_bias=False, dtype=dtype,
                      kernel_init=nn.with_logical_partitioning(
                          nn.initializers.normal(self.embed_dim ** -0.5), names))

    self.image_projection = projection(('embed', 'mlp'))
    self.text_projection = projection(('embed', 'mlp'))
    self.logit_scale = self.param('logit_scale', nn.initializers.constant(self.logit_scale_init),
                                  ())
    if self.logit_bias_init is not None:
      self.logit_bias = self.param('logit_bias', nn.initializers.constant(self.logit_bias_init),
                                   ())

  def encode_image(self, images, train=False, normalize=True):
    """images [B, H, W, C] -> unit-norm [B, E] (with normalize=False the projection as it is,
    what OpenAI's encode_image returns: a linear probe may use the norms)."""
    _, features = self.image(images, train=train and not self.lock_image)
    pooled = features['pre_logits']
    if self.lock_image:
      pooled = jax.lax.stop_gradient(pooled)
    embeddings = self.image_projection(pooled).astype(jnp.float32)
    return l2_normalize(embeddings) if normalize else embeddings

  def encode_text(self, text_ids, text_mask, train=False):
    """text_ids int [B, L], text_mask bool [B, L] (True on real tokens) -> unit-norm [B, E]."""
    tokens = self.text(text_ids, None, text_mask, train and not self.lock_text)
    if self.lock_text:
      tokens = jax.lax.stop_gradient(tokens)
    if self.text_pool == 'first':
      pooled = tokens[:, 0]
    elif self.text_pool == 'mean':
      weights = text_mask.astype(tokens.dtype)[..., None]
      pooled = (tokens * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)
    else:
      last = jnp.maximum(text_mask.sum(-1) - 1, 0)
      pooled = jnp.take_along_axis(tokens, last[:, None, None], axis=1)[:, 0]
    return l2_normalize(self.text_projection(pooled).astype(jnp.float32))

  def logit_scale_and_bias(self):
    """(exp(logit_scale), logit_bias; 0 without one): scalars."""
    bias = 0.0 if self.logit_bias_init is None else self.logit_bias
    return jnp.exp(self.logit_scale), bias

  def __call__(self, images, text_ids, text_mask, train=False):
    return self.encode_image(images, train), self.encode_text(text_ids, text_mask, train)


def build(model_config) -> CLIP:
  """`model_config.image` is a ViT config (its head is left out), `.text` a text encoder's; a
  logit init left None is the module's default (tasks.contrastive fills in its loss's)."""
  model_config = config_schema.completed(model_config, config_schema.MODEL)
  return CLIP(vit.tower(model_config.image), text.text_encoder(model_config.text),
              model_config.embed_dim, model_config.text_pool,
              **{k: model_config[k] for k in ('logit_scale_init', 'logit_bias_init',
                                               'lock_image', 'lock_text')
                 if model_config[k] is not None})


def train_flops(model: CLIP, batch_shapes) -> float:
  batch, *image_shape = batch_shapes['image']
  patch_embed, image_tower = vit.forward_flops(model.image, image_shape)
  text_tower = flops.text_forward(model.text, batch_shapes['text_ids'][1])
  projections = 2 * (model.image.width + model.text.width) * model.embed_dim
  # Locked towers: forward only (their projections still train).
  image_step = (image_tower + patch_embed if model.lock_image
                else 3 * image_tower + 2 * patch_embed)
  text_step = text_tower if model.lock_text else 3 * text_tower
  towers = image_step + text_step + 3 * projections
  # The [B, B] similarity of every image with every text, forward and both gradients.
  return batch * towers + 3 * 2 * batch**2 * model.embed_dim


def tokens_per_example(model: CLIP, batch_shapes) -> int:
  return vit.tokens_per_example(model.image, batch_shapes) + batch_shapes['text_ids'][1]


def export(params, config):
  """-> HF CLIPModel; HF pools the text at the tokenizer's end-of-text id."""
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import clip as clip_layout
  from input_pipeline import tokenizers
  # pylint: enable=g-import-not-at-top
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  return clip_layout.export(params, build(config.model), eos_token_id=tokenizer.sep_id)


family.FAMILIES.register('clip', family.Family(build, train_flops, tokens_per_example, export))
