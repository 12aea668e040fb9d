"""Decision Transformer (Chen et al. 2021): a return-conditioned causal Transformer over
(return-to-go, state, action) tokens that predicts each action from the tokens before it.

As the paper's code (its gym experiments):
  - Each timestep t gives three tokens: R_t (a linear embedding of the return-to-go divided by
    return_scale), s_t (a linear embedding of the state) and a_t (an embedding row of the
    discrete action, as in its Atari model), each plus a learned embedding of the timestep
    within the episode (no other position embedding: GPT-2's is removed there too).
  - Interleaved as (R_1, s_1, a_1, R_2, s_2, a_2, ...), 3K tokens of K timesteps, then a
    LayerNorm and dropout, then causal pre-LN blocks (GPT-2's layout, the shared Encoder with its
    final LayerNorm) with ReLU MLPs of 4D.
  - a_t is predicted from the hidden state at s_t, which sees R_1..R_t, s_1..s_t and
    a_1..a_{t-1} only: logits over the actions, trained with cross-entropy.
returns=False is behaviour cloning with the same model: no return tokens, (s_1, a_1, s_2, ...),
and the returns-to-go are not read.

Shapes: B batch, K timesteps, S state dimensions, A actions, D width; tokens per timestep 3 (2
without returns).
"""
import flax.linen as nn
import jax.numpy as jnp

from big_uni import config_schema, flops
from big_uni.models import family, transformer


class DecisionTransformer(nn.Module):
  """(returns-to-go float [B, K], states float [B, K, S], actions int [B, K], timesteps int
  [B, K]) -> action logits float32 [B, K, A]; row t sees timesteps 1..t and no action after
  a_{t-1}. Padding after a window's last real step is hidden from its real steps by the causal
  mask, so there is no padding mask."""
  family = 'decision_transformer'  # Its models.family entry (registered at the end of this file).
  state_dim: int
  num_actions: int
  max_timestep: int  # Timesteps 0 .. max_timestep - 1 have an embedding.
  returns: bool  # False: behaviour cloning, no return tokens.
  return_scale: float  # Returns-to-go are divided by it before their embedding.
  width: int
  depth: int
  block: transformer.BlockConfig
  embed_dropout: float = 0.0
  remat_policy: str = 'none'
  scan_layers: bool = False

  @property
  def tokens_per_step(self) -> int:
    return 3 if self.returns else 2

  def _dense(self, features: int, names: tuple):
    return nn.Dense(features, dtype=self.block.dtype,
                    kernel_init=transformer.dense_init(names),
                    bias_init=nn.with_logical_partitioning(nn.initializers.zeros, names[1:]))

  def _embed(self, rows: int):
    return nn.Embed(rows, self.width, dtype=self.block.dtype,
                    embedding_init=nn.with_logical_partitioning(
                        nn.initializers.normal(stddev=0.02), (None, 'embed')))

  def setup(self):  # Its submodules are named by their attributes.
    self.timestep_embed = self._embed(self.max_timestep)
    self.state_embed = self._dense(self.width, (None, 'embed'))
    self.action_embed = self._embed(self.num_actions)
    if self.returns:
      self.return_embed = self._dense(self.width, (None, 'embed'))
    self.embed_norm = transformer.layer_norm(None, self.block.layer_norm_eps,
                                             self.block.dtype)
    self.token_dropout = nn.Dropout(self.embed_dropout)
    self.encoder = transformer.Encoder(self.block, self.depth, remat_policy=self.remat_policy,
                                       scan_layers=self.scan_layers)
    self.action_head = self._dense(self.num_actions, ('embed', None))

  def tokens(self, returns_to_go, states, actions, timesteps):
    """-> [B, K * tokens_per_step, D]: (R_1, s_1, a_1, R_2, ...), or (s_1, a_1, ...)."""
    time = self.timestep_embed(timesteps)
    per_step = [self.state_embed(states.astype(self.block.dtype)) + time,
                self.action_embed(actions) + time]
    if self.returns:
      scaled = (returns_to_go / self.return_scale).astype(self.block.dtype)[..., None]
      per_step.insert(0, self.return_embed(scaled) + time)
    batch, steps = actions.shape
    return jnp.stack(per_step, axis=2).reshape(batch, steps * len(per_step), self.width)

  def __call__(self, returns_to_go, states, actions, timesteps, train=False):
    x = self.embed_norm(self.tokens(returns_to_go, states, actions, timesteps))
    x = self.token_dropout(x, deterministic=not train)
    x = self.encoder(x, causal=True, train=train)
    state_tokens = x[:, self.tokens_per_step - 2::self.tokens_per_step]  # s_t of each step.
    return self.action_head(state_tokens).astype(jnp.float32)


def build(model_config) -> DecisionTransformer:
  c = config_schema.completed(model_config, config_schema.MODEL)
  block = transformer.BlockConfig(
      num_heads=c.num_heads, mlp_dim=c.mlp_dim, norm_first=True, activation=c.activation,
      layer_norm_eps=c.layer_norm_eps, dropout=c.dropout,
      attention_dropout=c.attention_dropout, mlp_dropout=0.0,
      dtype=transformer.compute_dtype(c.dtype),
      attention_impl=transformer.attention_impl(c.attention_impl))
  return DecisionTransformer(c.state_dim, c.num_actions, c.max_timestep, c.returns,
                             c.return_scale, c.width, c.depth, block, c.dropout, c.remat_policy,
                             c.scan_layers)


def tokens_per_example(model: DecisionTransformer, batch_shapes) -> int:
  return batch_shapes['actions'][1] * model.tokens_per_step


def train_flops(model: DecisionTransformer, batch_shapes) -> float:
  batch, steps = batch_shapes['actions']
  # Causal attention counted in full, as flops.py counts the causal LM's.
  forward = flops.encoder_forward(tokens_per_example(model, batch_shapes), model.width,
                                  model.depth, model.block.mlp_dim)
  # The state and return embeddings and the action head; embedding lookups are not FLOPs.
  linear = 2 * steps * model.width * (model.state_dim + model.returns + model.num_actions)
  return 3 * batch * (forward + linear)


family.FAMILIES.register('decision_transformer', family.Family(build, train_flops,
                                                               tokens_per_example))
