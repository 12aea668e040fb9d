"""bfloat16 compute with float32 params: ViT and BERT train end to end on CPU, near the f32 loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import bert_base, vit_mnist5k
from tests import synthetic_steps


def _losses(config, dtype: str, steps: int = 3):
  config.input.dataset = 'synthetic'
  config.optimizer.warmup_steps = 0  # ViT's zero-initialised head: the loss moves from step 2.
  config.model.dtype = dtype
  config.model.dropout = 0.0
  metrics, state = synthetic_steps.train_steps(config, steps)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))  # master weights
  return [float(m['loss']) for m in metrics]


@pytest.mark.parametrize('get_config', [vit_mnist5k.get_config, bert_base.get_config],
                         ids=['vit', 'bert'])
def test_bfloat16_compute_is_finite_and_near_float32(get_config):
  f32, bf16 = _losses(get_config('smoke'), 'float32'), _losses(get_config('smoke'), 'bfloat16')
  assert np.isfinite(bf16).all()
  # bf16 keeps 8 bits of mantissa: ~0.4% relative error per op; the loss stays within 2%.
  np.testing.assert_allclose(bf16, f32, rtol=2e-2)
  assert bf16[-1] != f32[-1]  # The computation really ran in bfloat16.
