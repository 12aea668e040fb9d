"""Run by test_contrastive.py in a fresh process with 8 fake CPU devices: the contrastive loss of
one global batch, computed with the batch sharded over 8 devices and on 1 device."""
import json
import os
import sys

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from big_uni.tasks import contrastive


def main():
  rng = np.random.default_rng(0)
  image, text = (rng.standard_normal((32, 16)).astype(np.float32) for _ in range(2))
  image /= np.linalg.norm(image, axis=1, keepdims=True)
  text /= np.linalg.norm(text, axis=1, keepdims=True)
  out = {}
  for kind, bias in (('softmax', 0.0), ('sigmoid', -3.0)):
    loss = jax.jit(lambda i, t, k=kind, b=bias: contrastive.contrastive_loss(i, t, 10.0, b, k))
    single = float(loss(image, text))
    mesh = Mesh(np.asarray(jax.devices()), ('data',))
    rows = NamedSharding(mesh, PartitionSpec('data'))
    sharded_image, sharded_text = jax.device_put(image, rows), jax.device_put(text, rows)
    assert len(sharded_image.addressable_shards) == 8
    assert sharded_image.addressable_shards[0].data.shape == (4, 16)
    out[kind] = {'single': single, 'sharded': float(loss(sharded_image, sharded_text))}
  json.dump(out, sys.stdout)


if __name__ == '__main__':
  main()
