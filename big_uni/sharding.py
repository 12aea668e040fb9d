"""Device mesh from config and the logical-axis -> mesh-axis rules.

`config.mesh` names axis sizes, e.g. {'data': -1, 'fsdp': 1, 'tensor': 1}; -1 takes the remaining
devices. Parameters shard over `fsdp` (embed) and `tensor` (mlp, heads, vocab); the batch over
`data` x `fsdp`. One device is a mesh too, so the same program runs everywhere.
"""
import math

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from big_uni import errors

MESH_AXES = ('data', 'fsdp', 'tensor')

# (logical name, mesh axes). Parameter names first, then activation names (`act_` prefix).
DEFAULT_RULES = (
    ('embed', 'fsdp'),
    ('mlp', 'tensor'),
    ('heads', 'tensor'),
    ('kv', None),
    ('vocab', 'tensor'),
    ('classes', None),
    ('length', None),
    ('layers', None),  # The stacked-layer axis of scanned params (model.scan_layers).
    ('act_batch', ('data', 'fsdp')),
    ('act_length', None),
    ('act_embed', None),
    ('act_mlp', 'tensor'),
    ('act_heads', 'tensor'),
    ('act_kv', None),
)


def make_mesh(mesh_config, devices=None) -> Mesh:
  """Builds a (data, fsdp, tensor) mesh; at most one axis may be -1 (fill)."""
  devices = jax.devices() if devices is None else devices
  unknown = set(mesh_config) - set(MESH_AXES)
  if unknown:
    raise ValueError(f'unknown mesh axes {sorted(unknown)}; mesh axes are {MESH_AXES}')
  sizes = [int(mesh_config.get(name, 1)) for name in MESH_AXES]
  if sizes.count(-1) > 1:
    raise ValueError(f'at most one mesh axis may be -1, got {dict(zip(MESH_AXES, sizes))}')
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f'{len(devices)} devices cannot fill mesh {dict(zip(MESH_AXES, sizes))}')
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ValueError(f'mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices, '
                     f'{len(devices)} are available')
  # Flax logical partitioning needs Auto axes (jax.make_mesh defaults to Explicit).
  return Mesh(np.asarray(devices).reshape(sizes), MESH_AXES,
              axis_types=(AxisType.Auto,) * len(MESH_AXES))


def logical_rules(config) -> tuple:
  """`config.sharding_rules` (optional) overrides entries of DEFAULT_RULES by logical name."""
  overrides = dict(config.get('sharding_rules', None) or {})
  rules = [(name, overrides.pop(name, axes)) for name, axes in DEFAULT_RULES]
  return tuple(rules) + tuple(overrides.items())


def check_batch_size(batch_size: int, mesh: Mesh, name: str) -> None:
  """Batches are split evenly over the data x fsdp devices (see batch_sharding)."""
  devices = mesh.shape['data'] * mesh.shape['fsdp']
  if batch_size % devices:
    below, above = batch_size // devices * devices, (batch_size // devices + 1) * devices
    raise errors.UserInputError(
        f'{name}={batch_size} is not divisible by the {devices} devices the batch is split over '
        f'(mesh data={mesh.shape["data"]} x fsdp={mesh.shape["fsdp"]}): use a multiple of '
        f'{devices}, e.g. {" or ".join(str(b) for b in (below, above) if b)}')


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis over data x fsdp, everything else replicated."""
  return NamedSharding(mesh, PartitionSpec(('data', 'fsdp')))


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Assembles this process's numpy batch into global jax.Arrays sharded over the batch axes."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)
