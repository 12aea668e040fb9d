"""The Transformer of Vaswani et al. 2017 ("Attention is all you need"): an encoder and a
decoder of the shared blocks (transformer.py), one token embedding for source, target and output.

As the paper: sinusoidal positions added to embeddings scaled by sqrt(D), dropout on their sum,
post-LN blocks (model.norm_first=False), ReLU MLPs, and the output projection the embedding
matrix itself (no bias). The decoder is transformer.Encoder called causally with the encoder's
output to cross-attend to; decoding feeds it through a key/value cache (big_uni/decoding.py).

Shapes: B batch, S source tokens, T target tokens, D width, V shared vocabulary.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from big_uni import config_schema, errors, flops
from big_uni.models import family, sizes, transformer


def sinusoidal_positions(start, length: int, width: int) -> jax.Array:
  """float32 [length, D]: positions start .. start + length - 1 (start may be traced), channel
  i < D/2 sin(pos / 10000^(2i / D)) and channel D/2 + i its cos: the paper's Section 3.5
  frequencies, the sines before the cosines as Marian and fairseq order them."""
  half = width // 2
  inverse_wavelengths = np.exp(-np.log(10_000.0) * np.arange(half) / half)
  angles = (start + jnp.arange(length))[:, None] * inverse_wavelengths[None, :]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1).astype(jnp.float32)


class EncoderDecoder(nn.Module):
  """(source ids [B, S], source mask [B, S], target ids [B, T]) -> next-token logits [B, T, V]
  (float32); target position t sees target tokens 0..t and every real source token."""
  family = 'encoder_decoder'
  vocab_size: int
  width: int
  depth: int  # Of the encoder, and of the decoder.
  block: transformer.BlockConfig
  remat_policy: str = 'none'
  scan_layers: bool = False

  def setup(self):
    # Shared and tied (Section 3.4), so it is scaled by sqrt(D) at the input, not the output.
    self.token_embed = nn.Embed(
        self.vocab_size, self.width, dtype=self.block.dtype,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(self.width**-0.5), ('vocab', 'embed')))
    self.embed_dropout = nn.Dropout(self.block.dropout)
    stack = dict(config=self.block, depth=self.depth, remat_policy=self.remat_policy,
                 scan_layers=self.scan_layers)
    self.encoder = transformer.Encoder(**stack)
    self.decoder = transformer.Encoder(**stack)
    self.decode_index = transformer.DecodeIndex()

  def _embed(self, ids, start, train):
    x = self.token_embed(ids) * jnp.sqrt(self.width).astype(self.block.dtype)
    x = x + sinusoidal_positions(start, ids.shape[1], self.width).astype(self.block.dtype)
    return self.embed_dropout(x, deterministic=not train)

  def encode(self, source_ids, source_mask, train=False):
    """-> the encoder's output [B, S, D]."""
    return self.encoder(self._embed(source_ids, 0, train), source_mask, train=train)

  def decode(self, target_ids, encoded, source_mask, train=False, decode=False):
    """target ids [B, T] (after those in the cache, with decode) -> logits [B, T, V]."""
    start = self.decode_index(target_ids.shape[1]) if decode else 0
    x = self.decoder(self._embed(target_ids, start, train), causal=True, train=train,
                     encoded=encoded, encoded_mask=source_mask, decode=decode)
    return self.token_embed.attend(x).astype(jnp.float32)

  def __call__(self, source_ids, source_mask, target_ids, train=False):
    return self.decode(target_ids, self.encode(source_ids, source_mask, train), source_mask,
                       train)


def build(model_config) -> EncoderDecoder:
  model_config = config_schema.completed(model_config, config_schema.MODEL)  # A copy.
  size = sizes.decode(model_config.variant, 'text')
  size.update({k: model_config[k] for k in size if model_config[k] is not None})
  if size['width'] % 2:
    raise errors.UserInputError(f"model.width={size['width']}: sinusoidal positions pair a sine and a "
                     'cosine per frequency, so the width must be even')
  block = transformer.BlockConfig(
      num_heads=size['num_heads'], mlp_dim=size['mlp_dim'], norm_first=model_config.norm_first,
      activation=model_config.activation, layer_norm_eps=model_config.layer_norm_eps,
      dropout=model_config.dropout, attention_dropout=model_config.attention_dropout,
      mlp_dropout=model_config.mlp_dropout,
      dtype=transformer.compute_dtype(model_config.dtype),
      attention_impl=transformer.attention_impl(model_config.attention_impl))
  return EncoderDecoder(model_config.vocab_size, size['width'], size['depth'], block,
                        model_config.remat_policy, model_config.scan_layers)


def train_flops(model: EncoderDecoder, batch_shapes) -> float:
  batch, source = batch_shapes['source_ids']
  target = batch_shapes['target_ids'][1] - 1  # Teacher forcing feeds all but the last token.
  width, mlp_dim = model.width, model.block.mlp_dim
  encoder = flops.encoder_forward(source, width, model.depth, mlp_dim)
  decoder = flops.encoder_forward(target, width, model.depth, mlp_dim)
  cross = flops.cross_attention_forward(target, source, width, model.depth)
  logits = 2 * target * width * model.vocab_size
  return 3 * batch * (encoder + decoder + cross + logits)


def tokens_per_example(model, batch_shapes) -> int:
  return batch_shapes['source_ids'][1] + batch_shapes['target_ids'][1] - 1


def export(params, config):
  """-> HF MarianMTModel (convert/hf_marian.py), with the run's tokenizer's special ids."""
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import hf_marian
  from input_pipeline import tokenizers
  # pylint: enable=g-import-not-at-top
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  return hf_marian.export(params, build(config.model), pad_id=tokenizer.pad_id,
                          eos_id=tokenizer.sep_id, start_id=tokenizer.cls_id)


family.FAMILIES.register('encoder_decoder',
                         family.Family(build, train_flops, tokens_per_example, export))
