"""Image captioning, Unified-IO's image -> text in miniature: a text decoder cross-attending to
the tokens of a ViT.

The image tower is `vit.ViT` without a head, read at its output tokens (every patch, and [CLS]
with pool='cls'); the decoder is the causal LM's text tower (causal_lm.text_decoder: GPT-2's
layout) with a cross-attention branch in every block (transformer.EncoderBlock given `encoded`)
and next-token logits tied to its token embedding. Decoding encodes the image once and feeds the
decoder through a key/value cache (big_uni/decoding.py).

Shapes: B batch, H x W x C images, N image tokens, L caption tokens, D the decoder's width,
V vocabulary.
"""
import flax.linen as nn
import jax.numpy as jnp

from big_uni import config_schema, flops
from big_uni.models import causal_lm, family, text, vit


class Captioner(nn.Module):
  """(images [B, H, W, C], caption ids [B, L]) -> next-token logits [B, L, V] (float32);
  position t sees caption tokens 0..t and every image token.

  Neither side needs a padding mask: every image token is real, and caption padding comes after
  a row's tokens, where the causal mask hides it from every real position (as in the causal LM).
  """
  family = 'captioner'  # Its models.family entry (registered at the end of this file).
  image: vit.ViT
  text: text.TextEncoder

  def setup(self):
    if self.image.width != self.text.width:
      # Cross-attention projects keys and values from the decoder's width.
      self.image_projection = nn.Dense(
          self.text.width, dtype=self.text.block.dtype,
          kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(),
                                                   (None, 'embed')),
          bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ('embed',)))

  def encode(self, images, train=False):
    """images [B, H, W, C] -> the image tokens the decoder attends to [B, N, D]."""
    _, features = self.image(images, train=train)
    tokens = features['tokens']
    return self.image_projection(tokens) if self.image.width != self.text.width else tokens

  def decode(self, text_ids, encoded, train=False, decode=False):
    """caption ids [B, L] (with decode, the next L after those in the 'cache' collection) and
    encoded image tokens [B, N, D] -> logits [B, L, V]."""
    tokens = self.text(text_ids, train=train, encoded=encoded, decode=decode)
    return self.text.attend(tokens).astype(jnp.float32)

  def __call__(self, images, text_ids, train=False):
    return self.decode(text_ids, self.encode(images, train), train)


def build(model_config) -> Captioner:
  model_config = config_schema.completed(model_config, config_schema.MODEL)
  return Captioner(vit.tower(model_config.image), causal_lm.text_decoder(model_config.text))


def train_flops(model: Captioner, batch_shapes) -> float:
  batch, *image_shape = batch_shapes['image']
  patch_embed, image_tower = vit.forward_flops(model.image, image_shape)
  image_tokens = vit.tokens_per_example(model.image, batch_shapes)
  length = batch_shapes['text_ids'][1] - 1  # Teacher forcing feeds all but the last token.
  width = model.text.width
  decoder = (flops.text_forward(model.text, length)
             + flops.cross_attention_forward(length, image_tokens, width, model.text.depth)
             + 2 * length * width * model.text.vocab_size)  # The tied logits.
  if model.image.width != width:
    decoder += 2 * image_tokens * model.image.width * width
  return batch * (2 * patch_embed + 3 * (image_tower + decoder))


def tokens_per_example(model: Captioner, batch_shapes) -> int:
  return vit.tokens_per_example(model.image, batch_shapes) + batch_shapes['text_ids'][1] - 1


family.FAMILIES.register('captioner', family.Family(build, train_flops, tokens_per_example))
