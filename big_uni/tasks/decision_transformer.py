"""Offline control as sequence modelling (models/decision_transformer.py): each action of a window
of recorded timesteps predicted from the window's tokens before it, with cross-entropy over the
real timesteps. With model.returns=False the same task is behaviour cloning.

Batches (input.kind='trajectories'): returns_to_go float32 [B, K], states float32 [B, K, S],
actions int32 [B, K], timesteps int32 [B, K], step_mask bool [B, K] (False on steps past an
episode's end); 'mask' bool [B] in eval. Its eval metrics are the loss and the accuracy of the
recorded actions (of noisy policies: a random action is not predictable); how well the model
plays is the rollout evaluation's (evaluators/kinds/rollout.py).
"""
import jax.numpy as jnp

from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib
from big_uni.tasks.sequence import next_token_sums, position_weights

_STEPS = ('input.context_length',)


@base.TASKS.register('decision_transformer')
class DecisionTransformerTask(base.RowSumTask):
  """The loss is per real timestep: its weight is the batch's count of them."""

  acts = True
  batch_fields = dict(
      returns_to_go=batch_lib.Field(_STEPS, 'float32'),
      states=batch_lib.Field((*_STEPS, 'model.state_dim'), 'float32'),
      actions=batch_lib.Field(_STEPS, 'int32', high='model.num_actions'),
      timesteps=batch_lib.Field(_STEPS, 'int32', high='model.max_timestep'),
      step_mask=batch_lib.Field(_STEPS, 'bool', min_length=1))

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    self.return_conditioned = self.model.returns
    self.label_smoothing = config.label_smoothing

  def init_params(self, rng):
    zeros = {name: jnp.zeros((1, *field.shape), field.dtype)
             for name, field in self.batch_spec.items() if name != 'step_mask'}
    return self.model.init({'params': rng}, **zeros)['params']

  def _logits(self, params, batch, train: bool, rng=None):
    return self.model.apply({'params': params}, batch['returns_to_go'], batch['states'],
                            batch['actions'], batch['timesteps'], train=train,
                            rngs={'dropout': rng} if train else {})

  def _step_weights(self, batch):
    """float32 [B, K]: 1 on real timesteps (of real rows, in eval)."""
    return position_weights(batch['step_mask'], batch)

  def train_sums(self, params, batch, rng):
    sums = next_token_sums(self._logits(params, batch, True, rng), batch['actions'],
                           self._step_weights(batch), self.label_smoothing)
    return {'loss': sums['loss'], 'train_accuracy': sums['accuracy']}

  def loss_weights(self, batch):
    return {'loss': self._step_weights(batch).sum()}

  def eval_sums(self, params, batch):
    return next_token_sums(self._logits(params, batch, False), batch['actions'],
                           self._step_weights(batch))

  def action_logits(self, params, returns_to_go, states, actions, timesteps):
    return self.model.apply({'params': params}, returns_to_go, states, actions, timesteps)
