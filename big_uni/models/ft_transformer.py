"""FT-Transformer (Gorishniy et al. 2021, "Revisiting Deep Learning Models for Tabular Data"):
each column of a table a token, a [CLS] token appended, the shared Encoder, a head on [CLS].

Where it follows the paper and where the shared blocks (transformer.py) differ:
  - Feature tokenizer as the paper: numeric column j -> x_j * W_j + b_j, categorical column j
    -> its embedding row of the value + b_j; all of them and [CLS] initialized uniform in
    +-1/sqrt(D) as the paper's code does. [CLS] is the last token.
  - Pre-LN blocks, but every block has its first LayerNorm: the paper's first block skips it
    (its tokens come straight from the tokenizer); the shared EncoderBlock has no such option.
  - The MLP is ReLU with F = 2D where the paper's is ReGLU with 4/3 D: the shared MlpBlock has no
    gated unit, and F = 2D gives the same parameters (2DF = 3 D (4/3 D)) and FLOPs.
  - The head is the paper's LayerNorm -> ReLU -> Linear on [CLS]: its LayerNorm is the Encoder's
    final LayerNorm (of every token; only [CLS]'s is read).
  - Dropout as the paper's default: 0.2 on attention probabilities, 0.1 inside the MLP (after
    its activation), none on residual branches.

Shapes: B batch, n_num numeric and n_cat categorical columns, T = n_num + n_cat + 1 tokens,
D width, O outputs (classes, or 1 for a regression).
"""
import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from big_uni import config_schema, flops
from big_uni.models import family, transformer


def _uniform(width: int):
  """The paper's token init: uniform in [-1/sqrt(D), 1/sqrt(D)]."""
  bound = 1 / np.sqrt(width)
  return lambda key, shape, dtype=jnp.float32: nn.initializers.uniform(2 * bound)(
      key, shape, dtype) - bound


class FeatureTokenizer(nn.Module):
  """numeric float [B, n_num], categorical int [B, n_cat] -> tokens [B, n_num + n_cat, D]."""
  width: int
  num_numeric: int
  category_sizes: tuple[int, ...]
  dtype: jnp.dtype = jnp.float32

  def _param(self, name, shape):
    return self.param(name, nn.with_logical_partitioning(_uniform(self.width), (None, 'embed')),
                      shape).astype(self.dtype)

  @nn.compact
  def __call__(self, numeric, categorical):
    tokens = []
    if self.num_numeric:
      weight = self._param('numeric_weight', (self.num_numeric, self.width))
      bias = self._param('numeric_bias', (self.num_numeric, self.width))
      tokens.append(numeric.astype(self.dtype)[..., None] * weight + bias)
    if self.category_sizes:
      # One table of every column's values, column j's rows after those of columns < j.
      embed = self._param('category_embed', (sum(self.category_sizes), self.width))
      bias = self._param('category_bias', (len(self.category_sizes), self.width))
      offsets = np.cumsum((0, *self.category_sizes[:-1]))
      tokens.append(embed[categorical + offsets] + bias)
    return jnp.concatenate(tokens, axis=1)


class FTTransformer(nn.Module):
  """numeric float32 [B, n_num], categorical int32 [B, n_cat] -> outputs float32 [B, O]."""
  family = 'ft_transformer'  # Its models.family entry (registered at the end of this file).
  num_numeric: int
  category_sizes: tuple[int, ...]
  num_outputs: int
  width: int
  depth: int
  block: transformer.BlockConfig
  remat_policy: str = 'none'
  scan_layers: bool = False

  @nn.compact
  def __call__(self, numeric, categorical, train=False):
    tokens = FeatureTokenizer(self.width, self.num_numeric, self.category_sizes,
                              self.block.dtype, name='tokenizer')(numeric, categorical)
    cls = self.param('cls', nn.with_logical_partitioning(_uniform(self.width), ('embed',)),
                     (self.width,)).astype(self.block.dtype)
    x = jnp.concatenate([tokens, jnp.broadcast_to(cls, (len(tokens), 1, self.width))], axis=1)
    x = transformer.Encoder(self.block, self.depth, remat_policy=self.remat_policy,
                            scan_layers=self.scan_layers, name='encoder')(x, train=train)
    head = nn.Dense(self.num_outputs, dtype=self.block.dtype, name='head',
                    kernel_init=transformer.dense_init(('embed', None)),
                    bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (None,)))
    return head(nn.relu(x[:, -1])).astype(jnp.float32)


def build(model_config) -> FTTransformer:
  c = config_schema.completed(model_config, config_schema.MODEL)
  if c.num_categorical != len(c.category_sizes):
    raise ValueError(f'model.num_categorical={c.num_categorical} but model.category_sizes '
                     f'has {len(c.category_sizes)} columns: leave num_categorical out')
  if not c.num_numeric + len(c.category_sizes):
    raise ValueError('an FT-Transformer needs a column: set model.num_numeric or '
                     'model.category_sizes')
  block = transformer.BlockConfig(
      num_heads=c.num_heads, mlp_dim=c.mlp_dim, norm_first=True, activation='relu',
      layer_norm_eps=c.layer_norm_eps, dropout=c.dropout,
      attention_dropout=c.attention_dropout, mlp_dropout=c.mlp_dropout,
      dtype=transformer.compute_dtype(c.dtype),
      attention_impl=transformer.attention_impl(c.attention_impl))
  return FTTransformer(c.num_numeric, tuple(c.category_sizes), c.num_outputs, c.width, c.depth,
                       block, c.remat_policy, c.scan_layers)


def tokens_per_example(model: FTTransformer, batch_shapes) -> int:
  return model.num_numeric + len(model.category_sizes) + 1


def train_flops(model: FTTransformer, batch_shapes) -> float:
  batch = batch_shapes['numeric'][0]
  forward = flops.encoder_forward(tokens_per_example(model, batch_shapes), model.width,
                                  model.depth, model.block.mlp_dim)
  return 3 * batch * (forward + 2 * model.width * model.num_outputs)


family.FAMILIES.register('ft_transformer', family.Family(build, train_flops, tokens_per_example))
