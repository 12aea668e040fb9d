"""`--mode=aot`: compiles a config's real sharded train step for a TPU pod on this machine.

  python -m big_uni.main --config=configs/vit_l16.py --mode=aot --topology=v5e-256 \
      --config.model.dtype=bfloat16 --config.model.scan_layers=True [--find_max_batch]

No TPU is needed, only libtpu (`pip install -e '.[tpu_aot]'`): the TPU compiler runs here on the
topology's device descriptions, so the per-device bytes are its own figures and a step that does
not fit fails here as it would on the pod (as MaxText's train_compile does). Prints one
`key=value` per line.
"""
import importlib.util
import math
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


def compile_step(trainer: train.Trainer, global_batch: int) -> dict:
  """Per-device bytes of the compiled step. When the TPU compiler runs out of memory: fits=False,
  its message, and the bytes it needed and could use (when the message gives them)."""
  start = time.perf_counter()
  try:
    compiled = _lower(trainer, global_batch).compile()
  except jax.errors.JaxRuntimeError as e:
    if 'RESOURCE_EXHAUSTED' not in str(e):
      raise
    message = str(e)
    required, usable = _out_of_memory_bytes(message)
    return {'global_batch': global_batch, 'compile_s': time.perf_counter() - start,
            'fits': False, 'error': message.strip().splitlines()[0][:300],
            'total_bytes': required, 'usable_bytes': usable}
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
  figures['fits'] = True  # The TPU compiler refuses programs that do not fit.
  return figures


_SIZE = r'([\d.]+)([KMGT]?)'
# The TPU compiler's out-of-memory messages: (bytes needed, bytes the chip can give).
_OUT_OF_MEMORY = (rf'required for HLO temporaries \({_SIZE}\) exceeds available HBM \({_SIZE}\)',
                  rf'Used {_SIZE} of {_SIZE} hbm')


def _out_of_memory_bytes(message: str) -> tuple[int | None, int | None]:
  for pattern in _OUT_OF_MEMORY:
    found = re.search(pattern, message)
    if found:
      sizes = found.groups()
      return tuple(int(float(number) * 1024 ** ' KMGT'.index(unit or ' '))
                   for number, unit in (sizes[:2], sizes[2:]))
  return None, None


def find_max_batch(measure, start: int, unit: int, hbm_bytes: int, limit: int = 2**20) -> int:
  """Largest multiple of `unit` (<= limit) whose step fits; 0 when not even `unit` does.
  `measure(global_batch)` -> (fits, per-device bytes, bytes the compiler says it can use), the
  last two None where unknown.

  Memory grows about linearly with the batch, so each probe is where the line through the two
  measured batches nearest the boundary meets the capacity. A line pointing outside the bracket
  is checked one step inside its edge, then the bracket is bisected. The rows of the TPU table in
  docs/performance.md took 3-17 compiles past the first: near the limit the TPU compiler's
  choices bend the line."""
  ceiling = limit // unit + 1
  low, high, capacity, measured, beside = 0, ceiling, hbm_bytes, {}, False  # low fits, high not
  probe = min(max(start // unit, 1), high - 1)
  while high - low > 1:
    fits, total, usable = measure(probe * unit)
    if total is not None:
      measured[probe] = total
    capacity = min(capacity, usable or capacity)
    low, high = (probe, high) if fits else (low, probe)
    guess = _line_guess(measured, capacity, low, high)
    if guess is not None and low < guess < high:
      probe, beside = guess, False
    elif guess is not None and not beside:
      probe, beside = (low + 1 if guess <= low else high - 1), True
    else:
      probe = 2 * low if high == ceiling else (low + high) // 2
    probe = min(max(probe, low + 1), high - 1)
  return low * unit


def _line_guess(measured: dict, capacity: int, low: int, high: int) -> int | None:
  """Where the line through the measured (units, bytes) nearest the bracket reaches capacity."""
  below = [n for n in sorted(measured) if n <= low]
  above = [n for n in sorted(measured) if n >= high]
  pair = below[-1:] + above[:1] if below and above else below[-2:] or above[:2]
  if len(pair) < 2 or measured[pair[1]] <= measured[pair[0]]:
    return None
  (n1, n2), (b1, b2) = pair, (measured[pair[0]], measured[pair[1]])
  return n1 + math.floor((capacity - b1) * (n2 - n1) / (b2 - b1))


def run(config, topology_name: str, search_max_batch: bool = False) -> dict:
  """Compiles the step at config.input.batch_size (and searches the largest batch that fits);
  prints and returns the figures."""
  topology = get_topology(topology_name)
  hbm_bytes = TOPOLOGIES[topology_name][2] * 2**30
  trainer = train.Trainer(config, total_steps=1, devices=topology.devices)
  batch = config.input.batch_size
  figures = {'topology': topology_name, 'devices': len(topology.devices),
             'mesh': dict(trainer.mesh.shape), 'hbm_bytes': hbm_bytes,
             **compile_step(trainer, batch)}
  figures['flops_per_step'] = flops_per_step(config, batch)
  figures['flops_per_device'] = figures['flops_per_step'] / len(topology.devices)
  _print(figures)
  if search_max_batch:
    unit = (trainer.mesh.shape['data'] * trainer.mesh.shape['fsdp']
            * trainer.config.grad_accum_steps)

    def measure(global_batch):
      probe = figures if global_batch == batch else compile_step(trainer, global_batch)
      print(f'probe global_batch={global_batch} fits={probe["fits"]} '
            f'total_bytes={probe["total_bytes"]} compile_s={probe["compile_s"]:.1f}'
            + (f' error={probe["error"]}' if 'error' in probe else ''), flush=True)
      return probe['fits'], probe['total_bytes'], probe.get('usable_bytes')

    figures['max_global_batch'] = find_max_batch(measure, batch, unit, hbm_bytes)
    print(f'max_global_batch={figures["max_global_batch"]}')
  return figures


def _print(figures: dict) -> None:
  for key, value in figures.items():
    if key.endswith('_bytes') and value is not None:
      value = f'{value} ({value / 2**30:.3g} GiB)'
    elif isinstance(value, float):
      value = f'{value:.4g}'
    print(f'{key}={value}', flush=True)
