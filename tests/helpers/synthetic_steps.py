"""A few train steps of a config on its task's synthetic batches (same seed every call)."""
import jax
import numpy as np

from big_uni import sharding, train


def smoke_config(config_module, **overrides):
  """`config_module`'s smoke variant on its task's synthetic batches, with `overrides`."""
  config = config_module.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.update(overrides)
  return config


def train_steps(config, steps: int, batch_size: int | None = None, batch=None,
                repeat_batch: bool = False):
  """-> ([metrics of each step, on the host], final TrainState). Every step trains on `batch`
  when given; otherwise on a fresh synthetic batch, or with repeat_batch on the first one again."""
  trainer = train.Trainer(config, total_steps=steps)
  state = trainer.init_state()
  rng = np.random.default_rng(0)
  metrics = []
  with trainer.context():
    for _ in range(steps):
      step_batch = batch if batch is not None else trainer.task.synthetic_batch(
          rng, batch_size or config.input.batch_size)
      if repeat_batch:
        batch = step_batch
      state, step_metrics = trainer.train_step(state,
                                               sharding.global_batch(step_batch, trainer.mesh))
      metrics.append(jax.device_get(step_metrics))
  return metrics, state


def overfit(config, batch=None, batch_size: int = 8, lr: float = 3e-3, warmup_steps: int = 10):
  """Trains config.total_steps steps on one batch (the task's synthetic batch unless given), at
  a high learning rate without weight decay. -> [metrics of each step, on the host]."""
  config.optimizer.update(dict(lr=lr, warmup_steps=warmup_steps, weight_decay=0.0))
  return train_steps(config, config.total_steps, batch_size, batch, repeat_batch=True)[0]
