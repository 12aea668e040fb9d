"""A GPT-style causal language model (GPT-2's layout) on the text tower (text.py).

The family is the layout, not options of it: causal self-attention, pre-LN blocks with the
Encoder's final LayerNorm, token + position embeddings without segment embeddings or a LayerNorm
on them, and next-token logits from the token embedding itself (tied, no output bias). So the
config has no causal, norm_first, type_vocab_size or embed_norm fields (config_schema.MODEL):
setting one is refused rather than silently making a model that sees the future.

Shapes: B batch, L tokens, D width, V vocabulary.
"""
import flax.linen as nn
import jax.numpy as jnp

from big_uni import config_schema, flops
from big_uni.models import family, text

GPT_LAYOUT = dict(causal=True, norm_first=True, type_vocab_size=0, embed_norm=False)


class CausalLm(nn.Module):
  """token ids [B, L] -> next-token logits [B, L, V] (float32); position t sees tokens 0..t.

  No padding mask: padding comes after a row's tokens (every pipeline pads at the end), so the
  causal mask already hides it from every real position, and a row of padding alone stays finite.
  """
  family = 'causal_lm'  # Its models.family entry (registered at the end of this file).
  text: text.TextEncoder

  @nn.compact
  def __call__(self, input_ids, train=False, decode=False):
    """decode: input_ids are the next tokens after those in the 'cache' collection
    (big_uni.decoding); the logits are those of the uncached forward over the whole row."""
    tokens = self.text(input_ids, train=train, decode=decode)
    return self.text.attend(tokens).astype(jnp.float32)


def text_decoder(tower_config) -> text.TextEncoder:
  """The text tower of a decoder's section (config_schema.DECODER_TOWER) in GPT-2's layout: the
  causal LM's, and the captioner's decoder."""
  tower_config = tower_config.copy_and_resolve_references()
  with tower_config.unlocked():
    tower_config.update(GPT_LAYOUT)
  return text.text_encoder(tower_config)


def build(model_config) -> CausalLm:
  return CausalLm(text_decoder(config_schema.completed(model_config, config_schema.MODEL)))


def train_flops(model: CausalLm, batch_shapes) -> float:
  batch, length = batch_shapes['input_ids']
  logits = 2 * length * model.text.width * model.text.vocab_size  # The tied projection.
  return 3 * batch * (flops.text_forward(model.text, length) + logits)


def tokens_per_example(model, batch_shapes) -> int:
  return batch_shapes['input_ids'][1]


def export(params, config):
  """-> HF GPT2LMHeadModel."""
  from big_uni.convert import hf_gpt2  # pylint: disable=g-import-not-at-top
  return hf_gpt2.export(params, build(config.model).text)


family.FAMILIES.register('causal_lm', family.Family(build, train_flops, tokens_per_example,
                                                    export))
