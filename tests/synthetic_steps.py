"""A few train steps of a config on its task's synthetic batches (same seed every call)."""
import jax
import numpy as np

from big_uni import sharding, train


def train_steps(config, steps: int, batch_size: int | None = None):
  """-> ([metrics of each step, on the host], final TrainState)."""
  trainer = train.Trainer(config, total_steps=steps)
  state = trainer.init_state()
  rng = np.random.default_rng(0)
  metrics = []
  with trainer.context():
    for _ in range(steps):
      batch = trainer.task.synthetic_batch(rng, batch_size or config.input.batch_size)
      state, step_metrics = trainer.train_step(state, sharding.global_batch(batch, trainer.mesh))
      metrics.append(jax.device_get(step_metrics))
  return metrics, state
