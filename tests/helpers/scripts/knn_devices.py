"""Run by test_knn.py in a fresh process with 8 fake CPU devices: kNN predictions of one gallery
full of exact ties, its rows sharded over meshes of 8 and 2 x 4 devices (as a device
array and as host chunks) and on 1 device, printed as JSON."""
import json
import os
import sys

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import sharding
from big_uni.evaluators import chunks, knn

KS = (1, 2, 5, 21)
MESHES = {'data8': ({'data': 8}, 8), 'data2_fsdp4': ({'data': 2, 'fsdp': 4}, 8)}


def _exact_rows(rng, count):
  """Rows of 8 with four entries +-0.5: unit norm, and similarities multiples of 1/4 exactly,
  whatever the summation order; so many similarities tie."""
  rows = np.zeros((count, 8), np.float32)
  for row in rows:
    row[rng.choice(8, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
  return rows


def tied_gallery():
  """300 training rows with labels 0-3 and 40 test rows, their similarities full of ties."""
  rng = np.random.default_rng(0)
  return _exact_rows(rng, 300), rng.integers(0, 4, 300), _exact_rows(rng, 40)


def main():
  train_x, train_y, test_x = tied_gallery()
  gallery = chunks.from_arrays(train_x, train_y, rows=64)  # 5 chunks, the last padded
  out = {'single': knn.knn_predict(gallery, None, test_x, ks=KS)}
  for name, (mesh_config, devices) in MESHES.items():
    mesh = sharding.make_mesh(mesh_config, jax.devices()[:devices])
    on_device = jax.device_put(gallery.features, NamedSharding(mesh, PartitionSpec(
        None, ('data', 'fsdp'))))
    out[name] = knn.knn_predict(gallery._replace(features=on_device), None, test_x, ks=KS)
    out[f'{name}_host_chunks'] = knn.knn_predict(gallery, None, test_x, ks=KS, mesh=mesh)
  json.dump({name: {str(k): {vote: v.tolist() for vote, v in votes.items()}
                    for k, votes in predictions.items()}
             for name, predictions in out.items()}, sys.stdout)


if __name__ == '__main__':
  # Before the first jax call; test_knn.py imports this module for tied_gallery alone.
  os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'
  main()
