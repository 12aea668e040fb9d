"""The one transformer encoder that ViT, BERT and CLIP share.

Every parameter and key activation carries logical axis names; `big_uni.sharding` maps them to mesh
axes, so the parallelism layout is a config change. Parameter names (logical):
  embed  model width            mlp  MLP hidden width
  heads  attention heads        kv   per-head width
Activation names are prefixed with `act_` so batch and parameter axes can map to the same mesh axis
(e.g. FSDP shards `batch` and `embed` over `fsdp`) without clashing inside one array.

Shapes: B batch, L sequence length, D width, N heads, H head width, F MLP width.
"""
import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

def gelu_erf(x):
  """Exact GELU, x * Phi(x), written with erf as PyTorch and the BERT/ViT code write it.
  `nn.gelu(approximate=False)` uses erfc, which XLA:CPU evaluates with an extra exp per element;
  the two differ by float32 rounding only (tests/models/test_transformer.py)."""
  return 0.5 * x * (1.0 + jax.lax.erf(x * np.sqrt(0.5).astype(x.dtype)))


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'gelu': gelu_erf,  # ViT, BERT.
    'gelu_tanh': lambda x: nn.gelu(x, approximate=True),
    'quick_gelu': lambda x: x * nn.sigmoid(1.702 * x),  # OpenAI CLIP.
    'relu': nn.relu,  # The Transformer of Vaswani et al.
}

# Named remat policies: what the backward pass may keep instead of recomputing.
REMAT_POLICIES = {
    'none': None,
    'full': jax.checkpoint_policies.nothing_saveable,
    'dots_saveable': jax.checkpoint_policies.dots_saveable,
    'dots_with_no_batch_dims_saveable': jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    # Keep only the q/k/v projections (named in MultiHeadAttention): the backward pass then
    # recomputes the attention and MLP but not the three largest input matmuls.
    'save_qkv_proj': jax.checkpoint_policies.save_only_these_names('query', 'key', 'value'),
}


def dense_init(names: tuple[str | None, ...], init=nn.initializers.xavier_uniform()):
  return nn.with_logical_partitioning(init, names)


def compute_dtype(name: str) -> jnp.dtype:
  """model.dtype -> the activations' dtype; 'auto' is bfloat16 on GPUs and TPUs and float32 on
  CPUs (whose bf16 matmuls are slower). Params and optimizer state stay float32 either way."""
  if name == 'auto':
    return jnp.dtype(jnp.float32 if jax.default_backend() == 'cpu' else jnp.bfloat16)
  return jnp.dtype(name)


def attention_impl(impl: str) -> str | None:
  """model.attention_impl -> BlockConfig.attention_impl (None: chosen per device)."""
  if impl not in ('auto', 'xla', 'cudnn'):
    raise ValueError(f"model.attention_impl={impl!r}: use 'auto', 'xla' or 'cudnn'")
  return None if impl == 'auto' else impl


def choose_attention(impl: str | None, dtype, head_dim: int, dropout: float = 0.0) -> str:
  """'cudnn' or 'xla' for `impl` None ('auto'): cuDNN's fused attention on NVIDIA GPUs where it
  applies (bf16/fp16, head width a multiple of 8 up to 128, no dropout on the attention
  probabilities, which `jax.nn.dot_product_attention` cannot drop), XLA's elsewhere."""
  if impl == 'cudnn' and dropout:
    raise ValueError(f'attention_impl=cudnn cannot drop attention probabilities (attention '
                     f'dropout {dropout}): set model.attention_dropout=0 or attention_impl=auto')
  if impl is not None:
    return impl
  device = jax.devices()[0]
  applies = (jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16) and head_dim % 8 == 0
             and head_dim <= 128 and not dropout)
  return 'cudnn' if device.platform == 'gpu' and 'NVIDIA' in device.device_kind and applies \
      else 'xla'


def attention_weights(query, key, mask=None, causal=False, query_offset=0):
  """Softmax attention weights [B, N, Lq, Lk] from [B, N, Lq, H] queries and [B, N, Lk, H] keys;
  mask: bool [B, Lk], True on real keys. causal: query q sits at position q + query_offset
  (traced while decoding: the tokens already in the cache) and sees keys 0..q + query_offset."""
  logits = jnp.einsum('bnqh,bnkh->bnqk', query, key).astype(jnp.float32)
  logits /= jnp.sqrt(query.shape[-1]).astype(jnp.float32)
  # The lowest float, not -inf: its exp is 0 all the same, and a row with no real key (an eval
  # batch's padding rows) gets uniform weights instead of NaN, which would poison sums of them.
  hidden = jnp.finfo(jnp.float32).min
  if mask is not None:
    logits = jnp.where(mask[:, None, None, :], logits, hidden)
  if causal:
    queries = jnp.arange(query.shape[2])[:, None] + query_offset
    logits = jnp.where(jnp.arange(key.shape[2])[None, :] <= queries, logits, hidden)
  return jax.nn.softmax(logits, axis=-1)


class DecodeIndex(nn.Module):
  """How many positions incremental decoding has filled, kept in the 'cache' collection."""

  @nn.compact
  def __call__(self, length: int):
    """Returns the filled count before this call and advances it by `length` (once the cache
    exists: the call that creates it, `decoding.init_cache`'s, leaves it at 0)."""
    initialized = self.has_variable('cache', 'index')
    index = self.variable('cache', 'index', lambda: jnp.zeros((), jnp.int32))
    start = index.value
    if initialized:
      index.value = start + length
    return start


class MultiHeadAttention(nn.Module):
  """Self- or cross-attention: cuDNN's fused kernel through `jax.nn.dot_product_attention` on
  GPUs, else einsums over a [B, N, L, H] layout (XLA:CPU runs the batched matmuls of the
  [B, L, N, H] layout that `dot_product_attention` takes about half as fast, forward and
  backward)."""
  num_heads: int
  dtype: jnp.dtype = jnp.float32
  attention_impl: str | None = None  # None: choose_attention; 'xla' or 'cudnn' to force one.
  dropout: float = 0.0  # On the attention probabilities (BERT's attention_probs_dropout_prob).

  @nn.compact
  def __call__(self, x, mask=None, causal=False, train=False, kv=None, decode=False):
    """x: [B, L, D] queries; kv: [B, S, D] keys and values (cross-attention), or None: x itself;
    mask: bool [B, S], True for real keys; returns [B, L, D]. The cuDNN path reads the mask as
    per-row lengths (masks without a bias fail there in current JAX), so it expects padding at
    the end of each row, as every big_uni pipeline makes it.

    decode=True (causal self-attention): x holds the next L positions of each row; their keys
    and values are written to the 'cache' collection after those of the positions before, and
    the queries attend to all of them. The call that creates the cache (decoding.init_cache, x
    of the full decoding length) leaves it empty.
    """
    width = x.shape[-1]
    if width % self.num_heads:
      raise ValueError(f'width {width} is not divisible by num_heads {self.num_heads}')
    if decode and (kv is not None or not causal):
      raise ValueError('decode=True caches causal self-attention only')
    head_dim = width // self.num_heads
    # Decoding offsets the causal mask by the cached positions, which the fused kernel cannot.
    impl = 'xla' if decode else choose_attention(self.attention_impl, self.dtype, head_dim,
                                                 self.dropout)
    # [B, L, N, H] for cuDNN, [B, N, L, H] for the einsums.
    layout = 'blnh' if impl == 'cudnn' else 'bnlh'

    # Explicit [D, N, H] kernels and einsums (not DenseGeneral, whose flattened-kernel init
    # clashes with 3D logical axis names under a mesh). Xavier-uniform over the full fan in/out.
    def xavier(in_axis, out_axis):
      return nn.initializers.variance_scaling(1.0, 'fan_avg', 'uniform', in_axis, out_axis)

    def param(name, shape, names, init):
      return self.param(name, nn.with_logical_partitioning(init, names), shape).astype(self.dtype)

    head_names = {'blnh': ('act_batch', 'act_length', 'act_heads', 'act_kv'),
                  'bnlh': ('act_batch', 'act_heads', 'act_length', 'act_kv')}[layout]
    queries = x.astype(self.dtype)
    keys = queries if kv is None else kv.astype(self.dtype)

    def project(name, tokens):
      kernel = param(f'{name}_kernel', (width, self.num_heads, head_dim),
                     ('embed', 'heads', 'kv'), xavier(0, (1, 2)))
      bias = param(f'{name}_bias', (self.num_heads, head_dim), ('heads', 'kv'),
                   nn.initializers.zeros)
      out = jnp.einsum(f'bld,dnh->{layout}', tokens, kernel) + (
          bias if layout == 'blnh' else bias[:, None, :])
      return checkpoint_name(nn.with_logical_constraint(out, head_names), name)

    query, key, value = project('query', queries), project('key', keys), project('value', keys)
    query_offset = 0
    if decode:
      key, value, query_offset = self._cached(key, value)
    # Attention maps are sown on request only (apply(..., mutable=['intermediates'])).
    if impl == 'cudnn':
      if self.is_mutable_collection('intermediates'):
        # The fused kernel does not expose its weights: recomputed here, never in training.
        self.sow('intermediates', 'attention_weights', attention_weights(
            query.transpose(0, 2, 1, 3), key.transpose(0, 2, 1, 3), mask, causal))
      lengths = None if mask is None else mask.sum(-1, dtype=jnp.int32)
      out = jax.nn.dot_product_attention(query, key, value, is_causal=causal,
                                         key_value_seq_lengths=lengths, implementation='cudnn')
    else:
      weights = attention_weights(query, key, mask, causal, query_offset)
      weights = nn.Dropout(self.dropout, name='weights_dropout')(weights,
                                                                 deterministic=not train)
      if not self.is_initializing():
        # A no-op unless apply() is given a 'perturbations' collection (or makes it mutable):
        # then zeros are added here, whose gradient is dY/d(weights) (big_uni.analysis.vit).
        weights = self.perturb('attention_weights', weights)
      self.sow('intermediates', 'attention_weights', weights)  # The weights used, dropout included.
      out = jnp.einsum('bnqk,bnkh->bnqh', weights.astype(self.dtype), value)
    out = nn.with_logical_constraint(out, head_names)
    out_kernel = param('out_kernel', (self.num_heads, head_dim, width), ('heads', 'kv', 'embed'),
                       xavier((0, 1), 2))
    out_bias = param('out_bias', (width,), ('embed',), nn.initializers.zeros)
    return jnp.einsum(f'{layout},nhd->bld', out, out_kernel) + out_bias

  def _cached(self, key, value):
    """Writes this call's keys and values [B, N, L, H] after the cached ones; returns all of
    them [B, N, L(cache), H] (unwritten positions are zeros, hidden by the causal offset) and
    the offset of this call's first position."""
    initialized = self.has_variable('cache', 'cached_key')
    cached_key = self.variable('cache', 'cached_key', jnp.zeros, key.shape, key.dtype)
    cached_value = self.variable('cache', 'cached_value', jnp.zeros, value.shape, value.dtype)
    start = DecodeIndex(name='decode_index')(key.shape[2])
    if not initialized:
      return key, value, start
    capacity = cached_key.value.shape[2]
    if key.shape[2] > capacity:
      raise ValueError(f'{key.shape[2]} positions do not fit a cache of {capacity}')
    cached_key.value = jax.lax.dynamic_update_slice(cached_key.value, key, (0, 0, start, 0))
    cached_value.value = jax.lax.dynamic_update_slice(cached_value.value, value,
                                                      (0, 0, start, 0))
    return cached_key.value, cached_value.value, start


class MlpBlock(nn.Module):
  mlp_dim: int
  activation: str = 'gelu'
  dropout: float = 0.0  # On the hidden layer, as big_vision's ViT (not BERT) drops it.
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    """x: [B, L, D] -> [B, L, D] through a [B, L, F] hidden layer."""
    batch, length, width = x.shape
    # Tokens flattened to [B*L, D]: XLA:CPU runs the backward matmuls of 2D operands about
    # twice as fast as those of [B, L, D] ones (which get a transposed copy); elsewhere it is free.
    x = x.reshape(batch * length, width)
    bias_init = nn.initializers.normal(stddev=1e-6)
    x = nn.Dense(self.mlp_dim, dtype=self.dtype, name='fc1',
                 kernel_init=dense_init(('embed', 'mlp')),
                 bias_init=nn.with_logical_partitioning(bias_init, ('mlp',)))(x)
    x = nn.with_logical_constraint(ACTIVATIONS[self.activation](x),
                                   ('act_batch', 'act_mlp'))
    x = nn.Dropout(self.dropout)(x, deterministic=not train)
    x = nn.Dense(width, dtype=self.dtype, name='fc2',
                 kernel_init=dense_init(('mlp', 'embed')),
                 bias_init=nn.with_logical_partitioning(bias_init, ('embed',)))(x)
    return x.reshape(batch, length, width)


def layer_norm(name, eps, dtype):
  return nn.LayerNorm(
      epsilon=eps, dtype=dtype, name=name,
      scale_init=nn.with_logical_partitioning(nn.initializers.ones, ('embed',)),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ('embed',)))


@dataclasses.dataclass(frozen=True)
class BlockConfig:
  """What every block of an encoder shares; ViT, BERT and CLIP towers differ only here.

  Dropout sits where each family's reference puts it, one rate per place:
    dropout            the attention and MLP branch outputs (ViT, BERT's hidden_dropout_prob)
    attention_dropout  the attention probabilities (BERT's attention_probs_dropout_prob)
    mlp_dropout        the MLP's hidden layer, after the activation (big_vision's ViT)
  """
  num_heads: int
  mlp_dim: int
  norm_first: bool = True  # pre-LN (ViT, CLIP) or post-LN (published BERT)
  activation: str = 'gelu'
  layer_norm_eps: float = 1e-6
  dropout: float = 0.0
  attention_dropout: float = 0.0
  mlp_dropout: float = 0.0
  dtype: Any = jnp.float32
  attention_impl: str | None = None
  layer_scale_init: float = 0.0  # > 0: learned per-channel branch scales (CaiT, DINOv2).

  def __post_init__(self):
    if self.layer_scale_init and not self.norm_first:
      raise ValueError('layer_scale_init needs pre-LN blocks (norm_first=True)')


class DropPath(nn.Module):
  """Stochastic depth: drops a whole residual branch per example. Unlike nn.Dropout, `rate` may
  be traced (one rate per layer under nn.scan); the same rng stream as nn.Dropout otherwise."""
  rate: Any

  @nn.compact
  def __call__(self, y, deterministic):
    if deterministic or (isinstance(self.rate, (int, float)) and self.rate == 0):
      return y
    keep = 1.0 - self.rate
    mask = jax.random.bernoulli(self.make_rng('dropout'), keep,
                                (y.shape[0],) + (1,) * (y.ndim - 1))
    return jax.lax.select(jnp.broadcast_to(mask, y.shape), y / jnp.asarray(keep, y.dtype),
                          jnp.zeros_like(y))


class EncoderBlock(nn.Module):
  """Attention + MLP, each a residual branch with LayerNorm before (pre-LN) or after (post-LN).
  Given `encoded`, a cross-attention branch to it sits between the two: the Transformer's
  decoder block (Vaswani et al. 2017)."""
  config: BlockConfig

  @nn.compact
  def __call__(self, x, mask=None, causal=False, train=False, drop_path=0.0, encoded=None,
               encoded_mask=None, decode=False):
    """x: [B, L, D]; encoded: [B, S, D] (its mask bool [B, S]); drop_path: this block's
    stochastic depth rate (a float, or traced under nn.scan); decode: see MultiHeadAttention."""
    c = self.config
    drop_branch = DropPath(drop_path, name='drop_path')

    def residual(x, branch, norm_name, scale_name):
      if c.norm_first:
        y = branch(layer_norm(norm_name, c.layer_norm_eps, c.dtype)(x))
        if c.layer_scale_init:
          scale = self.param(scale_name, nn.with_logical_partitioning(
              nn.initializers.constant(c.layer_scale_init), ('embed',)), (x.shape[-1],))
          y = y * scale.astype(c.dtype)  # A float32 scale would promote the residual stream.
        return x + drop_branch(y, deterministic=not train)
      y = drop_branch(branch(x), deterministic=not train)
      return layer_norm(norm_name, c.layer_norm_eps, c.dtype)(x + y)

    def attention(name):
      return MultiHeadAttention(c.num_heads, c.dtype, c.attention_impl, c.attention_dropout,
                                name=name)

    mlp = MlpBlock(c.mlp_dim, c.activation, c.mlp_dropout, c.dtype, name='mlp')
    dropout = nn.Dropout(c.dropout)
    x = residual(x, lambda y: dropout(attention('attention')(y, mask, causal, train,
                                                             decode=decode),
                                      deterministic=not train),
                 'norm1', 'layer_scale1')
    if encoded is not None:
      x = residual(x, lambda y: dropout(attention('cross_attention')(y, encoded_mask,
                                                                     train=train, kv=encoded),
                                        deterministic=not train),
                   'norm_cross', 'layer_scale_cross')
    x = residual(x, lambda y: dropout(mlp(y, train), deterministic=not train), 'norm2',
                 'layer_scale2')
    return nn.with_logical_constraint(x, ('act_batch', 'act_length', 'act_embed'))


def _scan_step(block, x, drop_path, *args):
  """One layer as nn.scan's body: (carry, per-layer input) -> (carry, no output)."""
  mask, causal, train, encoded, encoded_mask, decode = args
  return block(x, mask, causal, train, drop_path, encoded, encoded_mask, decode), None


class Encoder(nn.Module):
  """A stack of `depth` EncoderBlocks; pre-LN stacks end with a final LayerNorm. Called with
  `encoded` (and causal=True), it is the Transformer's decoder.

  Stochastic depth grows linearly from 0 at the first block to `drop_path` at the last.
  scan_layers=True runs the blocks as one nn.scan: params gain a leading [depth] axis (logical
  name 'layers', under 'layers' instead of block00, block01, ...; `stack_layers` and
  `unstack_layers` convert) and compile time no longer grows with depth.
  """
  config: BlockConfig
  depth: int
  drop_path: float = 0.0
  remat_policy: str = 'none'
  scan_layers: bool = False

  @nn.compact
  def __call__(self, x, mask=None, causal=False, train=False, encoded=None, encoded_mask=None,
               decode=False):
    """x: [B, L, D]; mask: bool [B, L] (True = attend); causal: CLIP-text style; encoded:
    [B, S, D] to cross-attend to (its mask bool [B, S]); decode: incremental causal decoding
    with a key/value cache (MultiHeadAttention). -> [B, L, D]."""
    if self.remat_policy not in REMAT_POLICIES:
      raise ValueError(f'unknown remat_policy {self.remat_policy!r}; '
                       f'choose one of {sorted(REMAT_POLICIES)}')
    rates = [self.drop_path * i / max(self.depth - 1, 1) for i in range(self.depth)]
    block_cls = EncoderBlock
    # Decoding takes no gradient, so remat would only cost (and a cache is not remat's to keep).
    if self.remat_policy != 'none' and not decode:
      # causal, train, decode (and the unscanned float rate) are Python values, not traced.
      # Under scan the loop already keeps XLA from merging the recomputation into the forward.
      block_cls = nn.remat(EncoderBlock, policy=REMAT_POLICIES[self.remat_policy],
                           static_argnums=(3, 4, 8) if self.scan_layers else (3, 4, 5, 8),
                           prevent_cse=not self.scan_layers)
    x = nn.with_logical_constraint(x, ('act_batch', 'act_length', 'act_embed'))
    args = (mask, causal, train, encoded, encoded_mask, decode)
    if self.scan_layers:
      scan = nn.scan(_scan_step,
                     variable_axes={'params': 0, 'intermediates': 0, 'cache': 0},
                     split_rngs={'params': True, 'dropout': True}, length=self.depth,
                     in_axes=(0,) + (nn.broadcast,) * len(args),
                     metadata_params={nn.PARTITION_NAME: 'layers'})
      x, _ = scan(block_cls(self.config, name='layers'), x, jnp.asarray(rates, jnp.float32),
                  *args)
    else:
      for i, rate in enumerate(rates):
        x = block_cls(self.config, name=f'block{i:02d}')(x, mask, causal, train, rate,
                                                          *args[3:])
    if self.config.norm_first:
      x = layer_norm('final_norm', self.config.layer_norm_eps, self.config.dtype)(x)
    return x


def reorder_cache(cache, rows):
  """The decoding cache of rows `rows` int [B'] (beam search's surviving beams): every cached
  key and value [B, ...] (under scan [depth, B, ...]) gathered along its batch axis."""
  def gather(path, leaf):
    batch_axis = 1 if any(getattr(p, 'key', None) == 'layers' for p in path) else 0
    return jnp.take(leaf, rows, axis=batch_axis) if leaf.ndim > batch_axis + 1 else leaf
  return jax.tree_util.tree_map_with_path(gather, cache)


def _block_names(tree: dict) -> list[str]:
  return sorted(k for k in tree if k.startswith('block') and k[5:].isdigit())


def _stack(tree):
  if not isinstance(tree, dict):
    return tree
  blocks = _block_names(tree)
  out = {k: _stack(v) for k, v in tree.items() if k not in blocks}
  if blocks:
    # Host trees (pretrained weights) stay in host memory.
    out['layers'] = jax.tree.map(
        lambda *xs: np.stack(xs) if isinstance(xs[0], np.ndarray) else jnp.stack(xs),
        *(tree[k] for k in blocks))
  return out


def _unstack(tree):
  if not isinstance(tree, dict):
    return tree
  out = {k: _unstack(v) for k, v in tree.items() if k != 'layers'}
  if 'layers' in tree:
    depth = jax.tree.leaves(tree['layers'])[0].shape[0]
    for i in range(depth):
      out[f'block{i:02d}'] = jax.tree.map(lambda x, i=i: x[i], tree['layers'])
  return out


def stack_layers(tree):
  """Unscanned -> scanned layout: every dict holding block00..blockNN gets them as one 'layers'
  subtree with stacked leaves. Works on params and on optimizer states (any pytree of dicts)."""
  return jax.tree.map(_stack, tree, is_leaf=lambda x: isinstance(x, dict))


def unstack_layers(tree):
  """Scanned -> unscanned layout: the inverse of `stack_layers`."""
  return jax.tree.map(_unstack, tree, is_leaf=lambda x: isinstance(x, dict))


def _has_scanned_layers(tree) -> bool:
  return isinstance(tree, dict) and ('layers' in tree or any(map(_has_scanned_layers,
                                                                   tree.values())))


def match_layer_layout(tree, reference):
  """`tree` in the layer layout of `reference` (scanned if it holds a 'layers' subtree), e.g.
  unscanned pretrained weights for a scanned model."""
  return stack_layers(tree) if _has_scanned_layers(reference) else unstack_layers(tree)
