"""The Decision Transformer's task: cross-entropy on the actions of real timesteps only, and a
tiny model overfits a batch."""
import jax
import numpy as np

from big_uni import train
from configs import decision_transformer_cartpole
from tests.helpers import synthetic_steps


def _task_and_params():
  config = synthetic_steps.smoke_config(decision_transformer_cartpole)
  trainer = train.Trainer(config, total_steps=1)
  return trainer.task, trainer.init_state().params


def test_steps_past_an_episodes_end_are_neither_seen_nor_scored():
  task, params = _task_and_params()
  batch = task.synthetic_batch(np.random.default_rng(0), 8)
  batch['step_mask'] = np.broadcast_to(np.arange(4) < 2, (8, 4))  # 2 real steps a window.
  padding = ~batch['step_mask']
  changed = dict(batch, actions=np.where(padding, 1 - batch['actions'], batch['actions']),
                 states=np.where(padding[..., None], 5.0, batch['states']).astype(np.float32),
                 returns_to_go=np.where(padding, -3.0, batch['returns_to_go']).astype(np.float32))
  loss_of = jax.jit(lambda b: task.loss_and_metrics(params, b, jax.random.key(0))[0])
  loss = lambda b: float(loss_of(b))
  np.testing.assert_allclose(loss(changed), loss(batch), rtol=1e-6)
  assert float(task.loss_weights(batch)['loss']) == 16.0
  real = dict(batch, actions=batch['actions'].copy())
  real['actions'][:, 1] = 1 - real['actions'][:, 1]
  assert loss(real) != loss(batch)


def test_a_tiny_decision_transformer_overfits_a_batch():
  """The random actions of 16 windows of 4 steps learned by heart: the loss ends at a tenth of
  its start."""
  config = synthetic_steps.smoke_config(decision_transformer_cartpole, total_steps=80)
  config.model.update(dict(dropout=0.0, width=32, num_heads=2, mlp_dim=64))
  metrics = synthetic_steps.overfit(config, batch_size=16)
  assert metrics[-1]['loss'] < 0.1 * metrics[0]['loss']
