"""Gradient accumulation: micro-batches inside the jitted step equal one full batch."""
import jax
import numpy as np
import pytest

from configs import vit_mnist5k
from tests import synthetic_steps


def _run(grad_accum_steps: int, steps: int = 3):
  config = vit_mnist5k.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.grad_accum_steps = grad_accum_steps
  config.optimizer.warmup_steps = 0
  metrics, state = synthetic_steps.train_steps(config, steps, batch_size=32)
  return metrics, jax.device_get(state.params)


def test_four_micro_batches_equal_one_batch():
  (one, params_one), (four, params_four) = _run(1), _run(4)
  for a, b in zip(one, four):
    for name in ('loss', 'grad_norm', 'train_accuracy'):
      np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), params_one,
               params_four)


def test_indivisible_batch_is_a_clear_error():
  with pytest.raises(ValueError, match='not divisible by grad_accum_steps=5'):
    _run(5, steps=1)
