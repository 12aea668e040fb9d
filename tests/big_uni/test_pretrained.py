"""pretrained.initialise: loaded params land in the params' own shardings, the others stay the
arrays they were; a big_uni checkpoint's params are read to host memory against their checksums.
(2 processes sharing FSDP shards: tests/integration/test_multihost.py.)"""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import checkpoint, errors, pretrained

SOURCE = {'encoder': {'kernel': np.arange(12, dtype=np.float32).reshape(3, 4)},
          'head': {'bias': np.ones(5, np.float32)}}


def _save_checkpoint(workdir):
  """A step-3 checkpoint of SOURCE as params, beside an optimizer state; its checksums file."""
  params = jax.tree.map(jnp.asarray, SOURCE)
  state = {'params': params, 'opt_state': {'mu': jax.tree.map(jnp.zeros_like, params)}}
  saver = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), every_steps=1, keep=1)
  saver.save(3, state, force=True)
  saver.close()
  return workdir / 'checkpoints' / '3' / 'checksums' / 'metadata'  # Orbax's JSON item.


def _init(workdir) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({'backbone': dict(kind='checkpoint', path=str(workdir),
                                                     dont_load=('head/.*',))})


def test_loaded_params_take_the_params_shardings_and_fresh_ones_stay_as_they_are(tmp_path):
  _save_checkpoint(tmp_path)
  mesh = jax.make_mesh((1,), ('fsdp',))
  params = {'encoder': {'kernel': jnp.zeros((3, 4), jnp.bfloat16)},
            'head': {'bias': jnp.zeros(5)}, 'pooler': {'bias': jnp.zeros(4)}}
  params = jax.device_put(params, NamedSharding(mesh, PartitionSpec('fsdp')))
  loaded = pretrained.initialise(params, _init(tmp_path), ml_collections.ConfigDict())
  kernel = loaded['encoder']['kernel']
  assert kernel.sharding == params['encoder']['kernel'].sharding and kernel.dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(kernel, np.float32), SOURCE['encoder']['kernel'])
  # Not loaded (dont_load, or absent from the source): the very same arrays, never fetched.
  assert loaded['head']['bias'] is params['head']['bias']
  assert loaded['pooler']['bias'] is params['pooler']['bias']


def test_checkpoint_params_are_checked_against_their_checksums(tmp_path):
  checksums_file = _save_checkpoint(tmp_path)
  sums = json.loads(checksums_file.read_text())
  source = _init(tmp_path).backbone
  # Only the params are read: a wrong optimizer-state sum does not stop them loading.
  checksums_file.write_text(json.dumps({name: value + ('opt_state' in name)
                                        for name, value in sums.items()}))
  params = pretrained.load_source(source, None)
  assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(params))
  np.testing.assert_array_equal(params['encoder']['kernel'], SOURCE['encoder']['kernel'])
  checksums_file.write_text(json.dumps({name: value + ('kernel' in name)
                                        for name, value in sums.items()}))
  with pytest.raises(errors.UserInputError, match='does not match its checksums'):
    pretrained.load_source(source, None)
