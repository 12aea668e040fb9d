"""Run by tests/test_sharding.py in a fresh process with 8 fake CPU devices.

Prints one JSON line: for each mesh layout, the loss of 3 train steps, the max |param difference|
from the 1-device run, and the per-device shard shape of one MLP kernel.
"""
import json
import os
import sys

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from big_uni import sharding, train
from configs import vit_mnist5k

LAYOUTS = {
    'single': ({'data': 1}, jax.devices()[:1]),
    'dp8': ({'data': 8}, None),
    'fsdp8': ({'data': 1, 'fsdp': 8}, None),
    'tp4_dp2': ({'data': 2, 'tensor': 4}, None),
    'fsdp4_tp2': ({'data': 1, 'fsdp': 4, 'tensor': 2}, None),
}


def run(mesh_config, devices):
  config = vit_mnist5k.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.model.update(dict(width=64, num_heads=4, mlp_dim=128))
  config.optimizer.warmup_steps = 0
  config.mesh.update({'data': 1, 'fsdp': 1, 'tensor': 1, **mesh_config})
  trainer = train.Trainer(config, total_steps=3, devices=devices)
  state = trainer.init_state()
  rng = np.random.default_rng(0)
  losses = []
  with trainer.context():
    for _ in range(3):
      batch = {'image': rng.standard_normal((32, 8, 8, 1), np.float32),
               'label': rng.integers(0, 10, 32).astype(np.int32)}
      state, metrics = trainer.train_step(state, sharding.global_batch(batch, trainer.mesh))
      losses.append(float(metrics['loss']))
  kernel = state.params['encoder']['block00']['mlp']['fc1']['kernel']
  return losses, jax.device_get(state.params), kernel.addressable_shards[0].data.shape


def main():
  results = {name: run(*layout) for name, layout in LAYOUTS.items()}
  _, reference, _ = results['single']
  out = {}
  for name, (losses, params, shard_shape) in results.items():
    diff = max(jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(a - b).max()),
                                            params, reference)))
    out[name] = {'losses': losses, 'max_param_diff': diff, 'fc1_shard_shape': shard_shape}
  json.dump(out, sys.stdout)


if __name__ == '__main__':
  main()
