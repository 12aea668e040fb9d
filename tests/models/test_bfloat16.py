"""bfloat16 compute with float32 params: ViT and BERT train end to end on CPU, near the f32 loss."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import tasks
from configs import bert_base, clip_b16, vit_mnist5k
from tests.helpers import synthetic_steps


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


def _bf16_tiny(name: str, scan: bool):
  """A tiny config of family `name` in bfloat16 with LayerScale (DINOv2-initialised towers)."""
  config = {'vit': vit_mnist5k, 'bert': bert_base, 'clip': clip_b16}[name].get_config('smoke')
  towers = [config.model] + [config.model[k] for k in ('image', 'text') if k in config.model]
  for tower in towers:
    tower.update(dtype='bfloat16', scan_layers=scan)
  (config.model.image if name == 'clip' else config.model).layer_scale_init = 1e-5
  if name == 'bert':
    config.model.norm_first = True  # LayerScale needs pre-LN blocks.
    config.model.layer_scale_init = 1e-5
  config.input.dataset = 'synthetic'
  return config


@pytest.mark.parametrize('scan', [False, True], ids=['unrolled', 'scan'])
@pytest.mark.parametrize('name', ['vit', 'bert', 'clip'])
def test_bfloat16_activations_stay_bfloat16(name, scan):
  """Every module's output is bfloat16 but the heads' float32 logits and CLIP's embeddings: a
  float32 param mixed into the residual stream (LayerScale was) would promote it, and under scan
  the carry's dtype would then change (an error on GPUs and TPUs)."""
  config = _bf16_tiny(name, scan)
  task = tasks.build_task(config)
  batch = task.synthetic_batch(np.random.default_rng(0), 2)
  params = nn.unbox(jax.eval_shape(task.init_params, jax.random.key(0)))
  promoted = {}
  apply = task.model.apply

  def capturing_apply(variables, *args, **kwargs):
    outputs, state = apply(variables, *args, capture_intermediates=True,
                           mutable=['intermediates'], **kwargs)
    for path, leaf in jax.tree_util.tree_leaves_with_path(state.get('intermediates', {})):
      if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.dtype != jnp.bfloat16:
        promoted[jax.tree_util.keystr(path)] = leaf.dtype
    return outputs

  object.__setattr__(task.model, 'apply', capturing_apply)
  jax.eval_shape(lambda p, b: task.loss_and_metrics(p, b, jax.random.key(1)), params, batch)
  # Softmax attention weights are float32 by design (cast to bfloat16 before they meet values).
  promoted = [k for k in promoted if 'attention_weights' not in k and 'weights_dropout' not in k]
  # The model's outputs: logits (ViT; BERT's MLM and NSP) or CLIP's two embeddings.
  assert all(k.startswith("['__call__']") for k in promoted), promoted
  assert len(promoted) == {'vit': 1, 'bert': 2, 'clip': 2}[name], promoted
