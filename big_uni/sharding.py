"""Device mesh from config and the logical-axis -> mesh-axis rules.

`config.mesh` names axis sizes, e.g. {'data': -1, 'fsdp': 1, 'tensor': 1}; -1 takes the remaining
devices. Parameters shard over `fsdp` (embed) and `tensor` (mlp, heads, vocab); the batch over
`data` x `fsdp`. One device is a mesh too, so the same program runs everywhere.
"""
import glob
import importlib.util
import math
import os

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from big_uni import config_schema, errors

MESH_AXES = ('data', 'fsdp', 'tensor')
BATCH_AXES = ('data', 'fsdp')  # The mesh axes a batch's rows are split over.

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
    ('act_batch', BATCH_AXES),
    ('act_length', None),
    ('act_embed', None),
    ('act_mlp', 'tensor'),
    ('act_heads', 'tensor'),
    ('act_kv', None),
)


def initialize_distributed() -> None:
  """Joins a multi-process run when the environment describes one; call it before any JAX
  computation. JAX_COORDINATOR_ADDRESS (host:port of process 0) with JAX_NUM_PROCESSES and
  JAX_PROCESS_ID name it explicitly; SLURM jobs of several tasks and Cloud TPU VMs are found by
  jax.distributed itself (a TPU VM, single-host too, has TPU device files and libtpu). A single
  process elsewhere does nothing."""
  if 'JAX_COORDINATOR_ADDRESS' in os.environ:
    try:
      num_processes, process_id = (int(os.environ[name])
                                   for name in ('JAX_NUM_PROCESSES', 'JAX_PROCESS_ID'))
    except (KeyError, ValueError):
      raise errors.UserInputError(
          'JAX_COORDINATOR_ADDRESS is set: also set JAX_NUM_PROCESSES and JAX_PROCESS_ID '
          '(0 .. JAX_NUM_PROCESSES - 1) to integers') from None
    jax.distributed.initialize(num_processes=num_processes, process_id=process_id)
  elif int(os.environ.get('SLURM_NTASKS', '1')) > 1 or _on_tpu_vm():
    jax.distributed.initialize()  # coordinator, process count and index found in the environment


def _on_tpu_vm() -> bool:
  devices = glob.glob('/dev/accel[0-9]*') + glob.glob('/dev/vfio/[0-9]*')
  return bool(devices) and importlib.util.find_spec('libtpu') is not None


def make_mesh(mesh_config, devices=None) -> Mesh:
  """Builds a (data, fsdp, tensor) mesh; at most one axis may be -1 (fill). A mesh whose
  tensor axis spans processes is refused (see _check_batch_shards_within_processes)."""
  devices = jax.devices() if devices is None else devices
  unknown = set(mesh_config) - set(MESH_AXES)
  if unknown:
    raise ValueError(f'unknown mesh axes {sorted(unknown)}; mesh axes are {MESH_AXES}')
  mesh_config = config_schema.completed(mesh_config, config_schema.CONFIG['mesh'])
  sizes = [int(mesh_config[name]) for name in MESH_AXES]
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
  mesh = Mesh(np.asarray(devices).reshape(sizes), MESH_AXES,
              axis_types=(AxisType.Auto,) * len(MESH_AXES))
  _check_batch_shards_within_processes(mesh)
  return mesh


def _check_batch_shards_within_processes(mesh: Mesh) -> None:
  """Each process feeds its own rows of every batch (global_batch), so the devices that share
  one batch shard (the `tensor` axis at one data x fsdp position) must all be one process's:
  two processes there would each fill the same replicated block with different rows."""
  processes = np.vectorize(lambda device: device.process_index, otypes=[int])(mesh.devices)
  per_shard = processes.reshape(-1, mesh.shape['tensor'])  # [data * fsdp, tensor]: MESH_AXES
  split = np.flatnonzero(per_shard.min(axis=1) != per_shard.max(axis=1))
  if split.size:
    shared = sorted(set(per_shard[split[0]].tolist()))
    local = processes.size // len(np.unique(processes))
    raise errors.UserInputError(
        f'mesh {dict(mesh.shape)} puts devices of processes {shared} on one batch shard (the '
        'tensor axis spans processes), but each process feeds different rows of the batch. '
        f'Keep mesh.tensor within one process (a divisor of its {local} devices) and put the '
        'other devices on mesh.data or mesh.fsdp.')


def logical_rules(config) -> tuple:
  """`config.sharding_rules` (optional) overrides entries of DEFAULT_RULES by logical name."""
  overrides = dict(config.sharding_rules or {})
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


def check_divisible(boxed_params, mesh: Mesh, rules) -> None:
  """Every param dimension splits evenly over the mesh axes its logical name maps to; else one
  UserInputError naming each param, axis and size (XLA's own error names neither the config key
  nor the fix). E.g. ViT-Ti's 3 heads on mesh.tensor=2."""
  problems = []
  for path, leaf in jax.tree_util.tree_leaves_with_path(
      boxed_params, is_leaf=lambda x: isinstance(x, nn.Partitioned)):
    if not isinstance(leaf, nn.Partitioned):
      continue
    spec = nn.logical_to_mesh_axes(leaf.get_partition_spec(), rules)
    for dim, (size, logical, axes) in enumerate(zip(leaf.value.shape, leaf.names, spec)):
      axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
      shards = math.prod(mesh.shape[axis] for axis in axes)
      if size % shards:
        name = '/'.join(str(getattr(p, 'key', p)) for p in path)
        problems.append(f'{name} dimension {dim} ({logical!r}, size {size}) over mesh '
                        f'{" x ".join(f"{a}={mesh.shape[a]}" for a in axes)}')
  if problems:
    shown = '; '.join(problems[:3]) + (f'; and {len(problems) - 3} more' if len(problems) > 3
                                       else '')
    raise errors.UserInputError(
        f'params do not split evenly over the mesh: {shown}. Choose mesh sizes that divide '
        'these dimensions (e.g. mesh.tensor dividing model.num_heads and model.mlp_dim), or '
        'map the logical axis elsewhere with config.sharding_rules.')


def batch_axes(mesh) -> tuple[str, ...]:
  """The BATCH_AXES that `mesh` has (a mesh made outside make_mesh may name fewer)."""
  return tuple(axis for axis in BATCH_AXES if axis in mesh.axis_names)


def one_device_mesh() -> Mesh:
  """Where work on batch-sharded rows runs outside any mesh: one device, rows on 'data'."""
  return Mesh(jax.devices()[:1], ('data',))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis over data x fsdp, everything else replicated."""
  return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Assembles this process's numpy batch into global jax.Arrays sharded over the batch axes."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)
