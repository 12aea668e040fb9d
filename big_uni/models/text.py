"""The text tower: token + position [+ segment] embeddings around the shared Encoder.

BERT's encoder (bert.py adds its pooler, MLM and NSP heads) and CLIP's text tower (causal, no
segments; clip.py). Its sizes are the one table of sizes.py. Shapes: B batch, L tokens, D width,
V vocabulary.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from big_uni import config_schema
from big_uni.models import sizes, transformer


def normal(stddev=0.02):
  """BERT's initializer (initializer_range 0.02), which its heads share."""
  return nn.initializers.truncated_normal(stddev)


class TextEncoder(nn.Module):
  """token ids [B, L] (+ segment ids, padding mask) -> token features [B, L, D]."""
  vocab_size: int
  block: transformer.BlockConfig
  width: int
  depth: int
  max_len: int = 512
  type_vocab_size: int = 2  # 0: no segment embeddings (CLIP text).
  embed_norm: bool = True  # LayerNorm on the summed embeddings (BERT), none in CLIP.
  causal: bool = False
  drop_path: float = 0.0
  remat_policy: str = 'none'
  scan_layers: bool = False

  def setup(self):
    self.token_embed = nn.Embed(
        self.vocab_size, self.width, dtype=self.block.dtype,
        embedding_init=nn.with_logical_partitioning(normal(), ('vocab', 'embed')))
    self.position_embed = self.param(
        'position_embed', nn.with_logical_partitioning(normal(0.01), ('length', 'embed')),
        (self.max_len, self.width))
    if self.type_vocab_size:
      self.segment_embed = nn.Embed(
          self.type_vocab_size, self.width, dtype=self.block.dtype,
          embedding_init=nn.with_logical_partitioning(normal(), (None, 'embed')))
    if self.embed_norm:
      self.embed_layer_norm = transformer.layer_norm(None, self.block.layer_norm_eps,
                                                     self.block.dtype)
    self.embed_dropout = nn.Dropout(self.block.dropout)
    self.decode_index = transformer.DecodeIndex()
    self.encoder = transformer.Encoder(self.block, self.depth, self.drop_path, self.remat_policy,
                                       self.scan_layers)

  def __call__(self, input_ids, segment_ids=None, input_mask=None, train=False, encoded=None,
               encoded_mask=None, decode=False):
    """input_ids, segment_ids: int [B, L]; input_mask: bool [B, L], True on real tokens;
    encoded [B, S, D] (its mask bool [B, S]): what a decoder cross-attends to; decode: the
    next L tokens of each row, after those the cache holds (transformer.MultiHeadAttention)."""
    length = input_ids.shape[1]
    if length > self.max_len:
      raise ValueError(f'sequence length {length} exceeds the {self.max_len} position '
                       'embeddings: lower input.max_seq_len or raise model.max_len')
    if decode:
      if not self.causal:
        raise ValueError('decode=True needs a causal text tower')
      start = self.decode_index(length)
      positions = jax.lax.dynamic_slice_in_dim(self.position_embed, start, length)
    else:
      positions = self.position_embed[:length]
    x = self.token_embed(input_ids) + positions.astype(self.block.dtype)
    if self.type_vocab_size:
      x = x + self.segment_embed(jnp.zeros_like(input_ids) if segment_ids is None
                                 else segment_ids)
    if self.embed_norm:
      x = self.embed_layer_norm(x)
    x = self.embed_dropout(x, deterministic=not train)
    return self.encoder(x, input_mask, self.causal, train, encoded, encoded_mask, decode)

  def attend(self, features):
    """Output projection tied to the token embedding: [..., D] -> logits [..., V]."""
    return self.token_embed.attend(features)


def text_encoder(model_config, **overrides) -> TextEncoder:
  """The TextEncoder that `model_config` (variant + optional size overrides) describes; the
  fields it leaves out are BERT's (config_schema.TEXT_TOWER)."""
  model_config = config_schema.completed(model_config, config_schema.TEXT_TOWER)
  size = sizes.decode(model_config.variant, 'text')
  size.update({k: model_config[k] for k in size if model_config[k] is not None})
  fields = dict(
      norm_first=model_config.norm_first, activation=model_config.activation,
      layer_norm_eps=model_config.layer_norm_eps,
      # BERT's placement: `dropout` (hidden_dropout_prob) on the embeddings and the branch
      # outputs, attention_dropout (attention_probs_dropout_prob) on the attention
      # probabilities, mlp_dropout inside the MLP.
      dropout=model_config.dropout, attention_dropout=model_config.attention_dropout,
      mlp_dropout=model_config.mlp_dropout, dtype=transformer.compute_dtype(model_config.dtype),
      attention_impl=transformer.attention_impl(model_config.attention_impl))
  fields.update(overrides.pop('block', {}))
  block = transformer.BlockConfig(num_heads=size['num_heads'], mlp_dim=size['mlp_dim'],
                                  **fields)
  return TextEncoder(
      vocab_size=model_config.vocab_size, block=block, width=size['width'],
      depth=size['depth'], max_len=model_config.max_len,
      type_vocab_size=model_config.type_vocab_size, embed_norm=model_config.embed_norm,
      causal=model_config.causal, drop_path=model_config.drop_path,
      remat_policy=model_config.remat_policy, scan_layers=model_config.scan_layers,
      **overrides)
