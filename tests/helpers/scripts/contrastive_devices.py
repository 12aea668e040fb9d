"""Run by test_contrastive.py in a fresh process with 8 fake CPU devices: the contrastive losses
(value, image->text hits, gradients w.r.t. both towers, scale and bias) of one global batch with
padding rows, computed in per-device blocks on meshes of 8 and 2 x 4 devices and on 1 device."""
import json
import os
import sys

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import sharding
from big_uni.tasks import contrastive_losses

MESHES = {'single': ({'data': 1}, 1), 'data8': ({'data': 8}, 8), 'data2_fsdp4': (
    {'data': 2, 'fsdp': 4}, 8)}


def main():
  rng = np.random.default_rng(0)
  image, text = (rng.standard_normal((32, 16)).astype(np.float32) for _ in range(2))
  image /= np.linalg.norm(image, axis=1, keepdims=True)
  text /= np.linalg.norm(text, axis=1, keepdims=True)
  text[5] = text[3]  # Image 3 has two equally good captions: ties go to the lower index.
  valid = np.arange(32) < 29  # The last 3 rows are padding.
  out = {'inputs': {'image': image.tolist(), 'text': text.tolist(), 'valid': valid.tolist()}}
  for kind, bias in (('softmax', 0.0), ('sigmoid', -3.0)):
    def sums(image, text, scale, bias, kind=kind):
      loss, hits, count = contrastive_losses.contrastive_sums(image, text, scale, bias, kind,
                                                              valid_rows)
      return loss / count, hits

    for name, (mesh_config, devices) in MESHES.items():
      mesh = sharding.make_mesh(mesh_config, jax.devices()[:devices])
      rows = NamedSharding(mesh, PartitionSpec(('data', 'fsdp')))
      with jax.set_mesh(mesh):
        valid_rows = jax.device_put(valid, rows)
        args = (jax.device_put(image, rows), jax.device_put(text, rows), 10.0, bias)
        (loss, hits), grads = jax.jit(jax.value_and_grad(sums, argnums=(0, 1, 2, 3),
                                                         has_aux=True))(*args)
      out.setdefault(kind, {})[name] = {
          'loss': float(loss), 'hits': float(hits),
          'grads': [np.asarray(g).ravel().tolist() for g in grads]}
  json.dump(out, sys.stdout)


if __name__ == '__main__':
  main()
