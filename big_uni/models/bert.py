"""BERT (Devlin et al. 2019) around the shared Encoder: text embeddings, pooler, MLM and NSP heads.

`TextEncoder` (token + position [+ segment] embeddings, then the Encoder) is also CLIP's text
tower, with a causal mask and no segments. Shapes: B batch, L tokens, P masked positions, D width,
V vocabulary.
"""
import flax.linen as nn
import jax.numpy as jnp

from big_uni import config_schema
from big_uni.models import transformer

# Text encoder sizes, name: (width, depth, mlp_dim, num_heads). base/large from the BERT paper;
# MiniLM-L6-H384 is the architecture of the real weights that install offline
# (all-MiniLM-L6-v2); clip_b/clip_l are OpenAI CLIP's text towers (B/16 and L/14); the small
# sizes are for CPU-scale pretraining.
SIZES = {
    'mini': (256, 4, 1024, 4),
    'small': (512, 4, 2048, 8),
    'minilm_l6': (384, 6, 1536, 12),
    'base': (768, 12, 3072, 12),
    'large': (1024, 24, 4096, 16),
    'clip_b': (512, 12, 2048, 8),
    'clip_l': (768, 12, 3072, 12),
}


def decode_variant(variant: str) -> dict:
  if variant not in SIZES:
    raise ValueError(f'unknown BERT variant {variant!r}; known: {list(SIZES)}')
  width, depth, mlp_dim, num_heads = SIZES[variant]
  return dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads)


def _normal(stddev=0.02):
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
        embedding_init=nn.with_logical_partitioning(_normal(), ('vocab', 'embed')))
    self.position_embed = self.param(
        'position_embed', nn.with_logical_partitioning(_normal(0.01), ('length', 'embed')),
        (self.max_len, self.width))
    if self.type_vocab_size:
      self.segment_embed = nn.Embed(
          self.type_vocab_size, self.width, dtype=self.block.dtype,
          embedding_init=nn.with_logical_partitioning(_normal(), (None, 'embed')))
    if self.embed_norm:
      self.embed_layer_norm = transformer.layer_norm(None, self.block.layer_norm_eps,
                                                     self.block.dtype)
    self.embed_dropout = nn.Dropout(self.block.dropout)
    self.encoder = transformer.Encoder(self.block, self.depth, self.drop_path, self.remat_policy,
                                       self.scan_layers)

  def __call__(self, input_ids, segment_ids=None, input_mask=None, train=False):
    """input_ids, segment_ids: int [B, L]; input_mask: bool [B, L], True on real tokens."""
    length = input_ids.shape[1]
    if length > self.max_len:
      raise ValueError(f'sequence length {length} exceeds the {self.max_len} position '
                       'embeddings: lower input.max_seq_len or raise model.max_len')
    x = self.token_embed(input_ids) + self.position_embed[:length].astype(self.block.dtype)
    if self.type_vocab_size:
      x = x + self.segment_embed(jnp.zeros_like(input_ids) if segment_ids is None
                                 else segment_ids)
    if self.embed_norm:
      x = self.embed_layer_norm(x)
    x = self.embed_dropout(x, deterministic=not train)
    return self.encoder(x, input_mask, self.causal, train)

  def attend(self, features):
    """Output projection tied to the token embedding: [..., D] -> logits [..., V]."""
    return self.token_embed.attend(features)


def text_encoder(model_config, **overrides) -> TextEncoder:
  """The TextEncoder that `model_config` (variant + optional size overrides) describes; the
  fields it leaves out are BERT's (config_schema.TEXT_TOWER)."""
  model_config = config_schema.completed(model_config, config_schema.TEXT_TOWER)
  sizes = decode_variant(model_config.variant)
  sizes.update({k: model_config[k] for k in sizes if model_config[k] is not None})
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
  block = transformer.BlockConfig(num_heads=sizes['num_heads'], mlp_dim=sizes['mlp_dim'],
                                  **fields)
  return TextEncoder(
      vocab_size=model_config.vocab_size, block=block, width=sizes['width'],
      depth=sizes['depth'], max_len=model_config.max_len,
      type_vocab_size=model_config.type_vocab_size, embed_norm=model_config.embed_norm,
      causal=model_config.causal, drop_path=model_config.drop_path,
      remat_policy=model_config.remat_policy, scan_layers=model_config.scan_layers,
      **overrides)


def _dense(features, names, name, dtype, init=None):
  return nn.Dense(features, dtype=dtype, name=name,
                  kernel_init=nn.with_logical_partitioning(init or _normal(), names),
                  bias_init=nn.with_logical_partitioning(nn.initializers.zeros, names[-1:]))


class Pooler(nn.Module):
  """BERT's pooler: tanh(dense([CLS] features)) [B, D]."""
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens):
    width = tokens.shape[-1]
    return jnp.tanh(_dense(width, ('embed', 'mlp'), 'dense', self.dtype)(tokens[:, 0]))


class BertPretraining(nn.Module):
  """-> (MLM logits [B, P, V] at `masked_positions` [B, P], NSP logits [B, 2])."""
  text: TextEncoder

  @nn.compact
  def __call__(self, input_ids, segment_ids, input_mask, masked_positions, train=False):
    tokens = self.text(input_ids, segment_ids, input_mask, train)
    dtype, block = self.text.block.dtype, self.text.block
    # Only the masked positions reach the vocabulary projection: [B, P, D], not [B, L, D].
    masked = jnp.take_along_axis(tokens, masked_positions[..., None], axis=1)
    masked = _dense(tokens.shape[-1], ('embed', 'mlp'), 'mlm_dense', dtype)(masked)
    masked = transformer.ACTIVATIONS[block.activation](masked)
    masked = transformer.layer_norm('mlm_norm', block.layer_norm_eps, dtype)(masked)
    mlm_bias = self.param('mlm_bias', nn.with_logical_partitioning(nn.initializers.zeros,
                                                                   ('vocab',)),
                          (self.text.vocab_size,))
    mlm_logits = self.text.attend(masked).astype(jnp.float32) + mlm_bias  # float32 logits
    pooled = Pooler(dtype, name='pooler')(tokens)
    nsp_logits = _dense(2, ('mlp', 'classes'), 'nsp_head', dtype)(pooled)
    return mlm_logits, nsp_logits.astype(jnp.float32)


class BertClassifier(nn.Module):
  """Sequence (or pair) classification from the pooled [CLS]: -> (logits [B, C], features)."""
  text: TextEncoder
  num_classes: int
  dropout: float = 0.1

  @nn.compact
  def __call__(self, input_ids, segment_ids, input_mask, train=False):
    tokens = self.text(input_ids, segment_ids, input_mask, train)
    pooled = Pooler(self.text.block.dtype, name='pooler')(tokens)
    pooled_dropped = nn.Dropout(self.dropout)(pooled, deterministic=not train)
    logits = _dense(self.num_classes, ('mlp', 'classes'), 'head', self.text.block.dtype,
                    init=nn.initializers.zeros)(pooled_dropped)
    return logits.astype(jnp.float32), {'pre_logits': pooled, 'tokens': tokens}
