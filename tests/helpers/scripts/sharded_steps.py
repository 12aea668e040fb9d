"""Run by tests/big_uni/test_sharding.py in a fresh process with 8 fake CPU devices:
`sharded_steps.py vit` (or bert, clip, translation).

Prints one JSON line: for each run (a mesh layout, scan over layers, gradient accumulation) the
losses of 3 train steps from the same initial params, the max |param difference| from the
1-device run (attention key biases aside: their true gradient is 0), the per-device shard shape of the first MLP kernel and the largest fraction of a
big (>= 1024 entries) param that one device holds.
"""
import json
import math
import os
import sys

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from big_uni import sharding, train
from big_uni.models import transformer
from configs import bert_base, clip_b16, translation_ding, vit_mnist5k

# name: (mesh, devices (None: all 8), model fields, grad_accum_steps)
RUNS = {
    'single': ({'data': 1}, jax.devices()[:1], {}, 1),
    'dp8': ({'data': 8}, None, {}, 1),
    'fsdp8': ({'fsdp': 8}, None, {}, 1),
    'tp4_dp2': ({'data': 2, 'tensor': 4}, None, {}, 1),
    'fsdp4_tp2': ({'fsdp': 4, 'tensor': 2}, None, {}, 1),
    'fsdp4_tp2_scan': ({'fsdp': 4, 'tensor': 2}, None, {'scan_layers': True}, 1),
    'fsdp8_accum4': ({'fsdp': 8}, None, {}, 4),
}
SIZES = dict(width=64, num_heads=4, mlp_dim=128)
BATCH = 32


def base_config(model: str):
  """The model's smoke config on synthetic data, 64 wide, no dropout, no warmup."""
  if model == 'vit':
    config = vit_mnist5k.get_config('smoke')
    config.model.update(SIZES)
  elif model in ('bert', 'translation'):  # The encoder-decoder's cross-attention too.
    config = {'bert': bert_base, 'translation': translation_ding}[model].get_config('smoke')
    config.model.update(dict(SIZES, dropout=0.0))
  else:
    config = clip_b16.get_config('smoke')
    for tower in (config.model.image, config.model.text):
      tower.update(SIZES)
  config.input.dataset = 'synthetic'
  config.optimizer.warmup_steps = 0
  if config.optimizer.get('decay') == 'inverse_sqrt':
    # The paper's schedule needs a warmup, and its peak for a 64-wide model (3e-3) would make
    # Adam's steps on near-zero gradients dwarf the 1e-5 tolerance: BERT's smoke rate instead.
    config.optimizer.update(dict(decay='cosine', lr=bert_base.get_config('smoke').optimizer.lr))
  return config


def _towers(config):
  return [config.model[k] for k in ('image', 'text')] if 'image' in config.model else [
      config.model]


def run(model, mesh, devices, model_fields, grad_accum_steps, initial_state):
  config = base_config(model)
  for tower in _towers(config):
    tower.update(model_fields)
  config.grad_accum_steps = grad_accum_steps
  config.mesh.update({'data': 1, 'fsdp': 1, 'tensor': 1, **mesh})
  trainer = train.Trainer(config, total_steps=3, devices=devices)
  scanned = model_fields.get('scan_layers', False)
  if initial_state is None:
    state = trainer.init_state()
  else:  # The 1-device run's initial state, laid out for this model and placed on this mesh.
    layout = transformer.stack_layers if scanned else (lambda tree: tree)
    state = jax.device_put(layout(initial_state), trainer.state_shardings)
  first_state = jax.device_get(state)
  rng = np.random.default_rng(0)
  losses = []
  with trainer.context():
    for _ in range(3):
      batch = trainer.task.synthetic_batch(rng, BATCH)
      state, metrics = trainer.train_step(state, sharding.global_batch(batch, trainer.mesh))
      losses.append(float(metrics['loss']))
  params = jax.device_get(transformer.unstack_layers(state.params) if scanned else state.params)
  return first_state, losses, params, _shard_facts(state.params)


def _shard_facts(params) -> dict:
  fc1 = next(leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params)
             if 'fc1' in jax.tree_util.keystr(path) and path[-1].key == 'kernel')
  fractions = [math.prod(x.addressable_shards[0].data.shape) / x.size
               for x in jax.tree.leaves(params) if x.size >= 1024]
  return {'fc1_shard_shape': list(fc1.addressable_shards[0].data.shape),
          'max_big_param_fraction': max(fractions)}


def main(model):
  initial, reference, out = None, None, {}
  for name, (mesh, devices, model_fields, accum) in RUNS.items():
    first, losses, params, facts = run(model, mesh, devices, model_fields, accum, initial)
    initial = first if initial is None else initial
    reference = params if reference is None else reference
    diff = max(float(np.abs(a - b).max()) for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(reference))
               # A query's scores all shift by q.b, which softmax ignores: the key biases' true
               # gradient is 0, and Adam scales their rounding noise up to the step size.
               if path[-1].key != 'key_bias')
    out[name] = {'losses': losses, 'max_param_diff': diff, **facts}
  json.dump(out, sys.stdout)


if __name__ == '__main__':
  main(sys.argv[1])
