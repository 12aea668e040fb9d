"""`--mode=shapes`: the parameter tree, its total (and its frozen part), and bytes per device,
without allocating."""
import math

import jax
import numpy as np

from big_uni import optim, train


def per_device_bytes(abstract_tree) -> int:
  """Bytes of the largest shard of each leaf on one device, summed over leaves."""
  return sum(math.prod(x.sharding.shard_shape(x.shape)) * np.dtype(x.dtype).itemsize
             for x in jax.tree.leaves(abstract_tree))


def describe(config) -> str:
  trainer = train.Trainer(config, total_steps=1)  # No data is read.
  params = trainer.abstract_state.params
  lines = []
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    name = '/'.join(str(getattr(p, 'key', p)) for p in path)
    lines.append(f'{name:<60} {str(leaf.shape):<22} {math.prod(leaf.shape):>13,}')
  total = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
  lines.append(f'mesh {dict(trainer.mesh.shape)}: per device '
               f'params {per_device_bytes(params) / 2**20:,.1f} MiB, '
               f'optimizer {per_device_bytes(trainer.abstract_state.opt_state) / 2**20:,.1f} MiB')
  if config.optimizer.frozen:  # E.g. CLIP's locked tower, DeiT's teacher: in the state, untrained.
    labels = jax.tree.leaves(optim.freeze_labels(config.optimizer.frozen, params))
    frozen = sum(math.prod(x.shape) for x, label in zip(jax.tree.leaves(params), labels)
                 if label == 'frozen')
    lines.append(f'frozen_params={frozen} trained_params={total - frozen}')
  lines.append(f'total_params={total}')
  return '\n'.join(lines)
