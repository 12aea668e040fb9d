"""`--mode=aot`: compiles a config's real sharded train step for a TPU pod on this machine.

  python -m big_uni.main --config=configs/vit_l16.py --mode=aot --topology=v5e-256 \
      --config.model.dtype=bfloat16 --config.model.scan_layers=True [--find_max_batch]

No TPU is needed, only libtpu (`pip install -e '.[tpu_aot]'`): the TPU compiler runs here on the
topology's device descriptions, so the per-device bytes are its own figures and a step that does
not fit fails here as it would on the pod (as MaxText's train_compile does). Prints one
`key=value` per line.
"""
import importlib.util
import os
import re
import time

import jax
import numpy as np
from jax.experimental import topologies

from big_uni import errors, sharding, train

# Cloud TPU slice name: (topology, chip config, HBM GiB per chip). Hosts hold 2x2x1 chips.
TOPOLOGIES = {
    'v4-8': ('v4:2x2x1', 'megacore', 32),
    'v5e-256': ('v5e:16x16', 'default', 16),
    'v5p-128': ('v5:4x4x4', 'megacore', 95),
    'v6e-256': ('v6e:16x16', 'default', 32),
}
_ACCELERATOR_TYPES = {'v5e': 'v5litepod'}  # libtpu's name for v5e slices


def get_topology(name: str):
  """The TopologyDescription of a slice in TOPOLOGIES; its .devices build a Mesh."""
  if name not in TOPOLOGIES:
    raise errors.UserInputError(f'unknown --topology={name!r}; known: {sorted(TOPOLOGIES)}')
  if importlib.util.find_spec('libtpu') is None:
    raise errors.UserInputError("--mode=aot compiles with libtpu: pip install -e '.[tpu_aot]'")
  generation, chips = name.split('-')
  # Without a TPU, libtpu needs to be told the slice and that it is alone on its host; the lock
  # lets other processes (tests, other runs) load libtpu too.
  os.environ.setdefault('TPU_ACCELERATOR_TYPE', f'{_ACCELERATOR_TYPES.get(generation, generation)}'
                                                f'-{chips}')
  os.environ.setdefault('TPU_WORKER_HOSTNAMES', 'localhost')
  os.environ.setdefault('ALLOW_MULTIPLE_LIBTPU_LOAD', '1')
  topology, chip_config, _ = TOPOLOGIES[name]
  return topologies.get_topology_desc(platform='tpu', topology_name=topology,
                                      chip_config_name=chip_config,
                                      chips_per_host_bounds=(2, 2, 1), num_slices=1)


def _abstract_batch(trainer: train.Trainer, global_batch: int) -> dict:
  """The task's batch shapes at `global_batch`, sharded over the batch axes; nothing allocated."""
  example = trainer.task.synthetic_batch(np.random.default_rng(0), 2)
  batch_sharding = sharding.batch_sharding(trainer.mesh)
  return {name: jax.ShapeDtypeStruct((global_batch, *x.shape[1:]), x.dtype,
                                     sharding=batch_sharding) for name, x in example.items()}


def _lower(trainer: train.Trainer, global_batch: int):
  with trainer.context():
    return trainer.train_step.lower(trainer.abstract_state,
                                    _abstract_batch(trainer, global_batch))


def flops_per_step(config, global_batch: int) -> float:
  """XLA's count for the whole step (all devices), from the unpartitioned, unscanned program:
  cost analysis counts a scanned loop's body once, and TPU lowerings give none before compiling."""
  config = config.copy_and_resolve_references()
  config.mesh.update({axis: 1 for axis in sharding.MESH_AXES})
  for model in (config.model, *(config.model[k] for k in ('image', 'text') if k in config.model)):
    if 'scan_layers' in model:
      model.scan_layers = False
  trainer = train.Trainer(config, total_steps=1, devices=jax.devices('cpu')[:1])
  return float(_lower(trainer, global_batch).cost_analysis()['flops'])


def compile_step(trainer: train.Trainer, global_batch: int, hbm_bytes: int) -> dict:
  """Per-device bytes of the compiled step and whether they fit in `hbm_bytes`; when the TPU
  compiler runs out of memory, fits=False and its message."""
  start = time.perf_counter()
  try:
    compiled = _lower(trainer, global_batch).compile()
  except jax.errors.JaxRuntimeError as e:
    if 'RESOURCE_EXHAUSTED' not in str(e):
      raise
    return {'global_batch': global_batch, 'compile_s': time.perf_counter() - start,
            'fits': False, 'error': _out_of_memory_message(e)}
  memory = compiled.memory_analysis()
  figures = {
      'global_batch': global_batch,
      'compile_s': time.perf_counter() - start,
      'argument_bytes': memory.argument_size_in_bytes,
      'output_bytes': memory.output_size_in_bytes,
      'temp_bytes': memory.temp_size_in_bytes,
      'generated_code_bytes': memory.generated_code_size_in_bytes,
      'alias_bytes': memory.alias_size_in_bytes,  # donated state: outputs reuse argument buffers
  }
  figures['total_bytes'] = (figures['argument_bytes'] + figures['output_bytes']
                            - figures['alias_bytes'] + figures['temp_bytes']
                            + figures['generated_code_bytes'])
  figures['fits'] = figures['total_bytes'] <= hbm_bytes
  return figures


def _out_of_memory_message(error) -> str:
  message = str(error)
  used = re.search(r'Used [^\n]* of [^\n]* hbm[^\n]*', message)
  return used.group(0) if used else message.splitlines()[0][:300]


def find_max_batch(total_bytes, start: int, unit: int, hbm_bytes: int,
                   limit: int = 2**20) -> int:
  """Largest multiple of `unit` (<= limit) whose step fits: `total_bytes(global_batch)` gives the
  per-device bytes, None when the compiler ran out of memory. 0 when not even `unit` fits.

  Memory grows about linearly with the batch, so each probe is the line through the two largest
  measured batches (doubling until there are two), kept inside the bracket: 3-5 compiles."""
  low, high, measured = 0, limit // unit + 1, {}  # in units: low fits (or 0), high does not
  probe = min(max(start // unit, 1), high - 1)
  while high - low > 1:
    total = total_bytes(probe * unit)
    if total is not None:
      measured[probe] = total
    if total is not None and total <= hbm_bytes:
      low = probe
    else:
      high = probe
    if len(measured) >= 2:
      (n1, b1), (n2, b2) = sorted(measured.items())[-2:]
      guess = n2 + int((hbm_bytes - b2) * (n2 - n1) / max(b2 - b1, 1))
    else:
      guess = 2 * low if low else probe // 2
    probe = min(max(guess, low + 1), high - 1)
  return low * unit


def run(config, topology_name: str, search_max_batch: bool = False) -> dict:
  """Compiles the step at config.input.batch_size (and searches the largest batch that fits);
  prints and returns the figures."""
  topology = get_topology(topology_name)
  hbm_bytes = TOPOLOGIES[topology_name][2] * 2**30
  trainer = train.Trainer(config, total_steps=1, devices=topology.devices)
  batch = config.input.batch_size
  figures = {'topology': topology_name, 'devices': len(topology.devices),
             'mesh': dict(trainer.mesh.shape), 'hbm_bytes': hbm_bytes,
             **compile_step(trainer, batch, hbm_bytes)}
  figures['flops_per_step'] = flops_per_step(config, batch)
  figures['flops_per_device'] = figures['flops_per_step'] / len(topology.devices)
  _print(figures)
  if search_max_batch:
    unit = (trainer.mesh.shape['data'] * trainer.mesh.shape['fsdp']
            * config.get('grad_accum_steps', 1))

    def total_bytes(global_batch):
      probe = compile_step(trainer, global_batch, hbm_bytes)
      print(f'probe global_batch={global_batch} fits={probe["fits"]} '
            f'total_bytes={probe.get("total_bytes", probe.get("error"))} '
            f'compile_s={probe["compile_s"]:.1f}', flush=True)
      return probe.get('total_bytes')

    figures['max_global_batch'] = find_max_batch(total_bytes, batch, unit, hbm_bytes)
    print(f'max_global_batch={figures["max_global_batch"]}')
  return figures


def _print(figures: dict) -> None:
  for key, value in figures.items():
    if key.endswith('_bytes'):
      value = f'{value} ({value / 2**30:.3g} GiB)'
    elif isinstance(value, float):
      value = f'{value:.4g}'
    print(f'{key}={value}', flush=True)
