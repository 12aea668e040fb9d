"""The TPU table of docs/performance.md: published configs compiled ahead of time for TPU slices,
on this CPU.

  python -m benchmarks.aot_table --topologies=v5e-256,v5p-128 [--configs=vit_b16,bert_large]

Every config runs at its own (published) batch size with the settings a pod run would use:
float32 params, bfloat16 compute, scanned layers, FSDP over all chips. A step that does not fit
is compiled again with full rematerialisation. Then the largest global batch that fits is
searched (aot.find_max_batch). Prints each compile's figures as it goes and a Markdown table last.

Each row compiles in a fresh process: one process compiling every row in turn kept the host memory
of the earlier compiles and was killed on a 24 GiB machine at CLIP B/16's largest batches (one
compile there needs 11 GiB).
"""
import concurrent.futures
import importlib.util
import multiprocessing

from absl import app, flags

from big_uni import aot

CONFIGS = ('vit_b16', 'vit_l16', 'vit_h14', 'bert_base', 'bert_large', 'clip_b16', 'clip_l14')
_CONFIGS = flags.DEFINE_list('configs', list(CONFIGS), 'Config files (configs/<name>.py).')
_TOPOLOGIES = flags.DEFINE_list('topologies', ['v5e-256', 'v5p-128'], 'TPU slices (aot.py).')
_MAX_BATCH = flags.DEFINE_bool('find_max_batch', True, 'Also search the largest batch that fits.')


def pod_config(name: str, remat_policy: str = 'none'):
  """`configs/<name>.py` (or `<name>:<variant>`) as it would run on a pod: f32 params, bf16
  compute, scanned layers, every chip in the fsdp axis. The file is loaded by its path from the
  working directory, as main.py's --config."""
  module, *variant = name.split(':', 1)
  spec = importlib.util.spec_from_file_location(f'{module}_config', f'configs/{module}.py')
  config_file = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(config_file)
  config = config_file.get_config(*variant)
  towers = [config.model[k] for k in ('image', 'text') if k in config.model] or [config.model]
  for tower in towers:
    tower.update(dict(dtype='bfloat16', scan_layers=True, remat_policy=remat_policy))
  config.mesh.update(dict(data=1, fsdp=-1, tensor=1))
  return config


def _row(name: str, topology: str, figures: dict, remat: str) -> str:
  gib = lambda b: '-' if b is None else f'{b / 2**30:.2f}'
  fits = 'yes' if figures['fits'] else 'no'
  max_batch = figures.get('max_global_batch', '-')
  return (f'| {name} | {topology} | {figures["global_batch"]:,} | {remat} | '
          f'{gib(figures["total_bytes"])} | {figures["flops_per_step"] / 1e15:.3g} | {fits} | '
          f'{max_batch if isinstance(max_batch, str) else f"{max_batch:,}"} |')


def compile_row(name: str, topology: str, remat: str, find_max_batch: bool) -> dict:
  return aot.run(pod_config(name, remat), topology, find_max_batch)


def in_fresh_process(function, *args):
  """function(*args) in a new process: the compiler's host memory goes when it ends."""
  with concurrent.futures.ProcessPoolExecutor(
      1, mp_context=multiprocessing.get_context('spawn')) as fresh_process:
    return fresh_process.submit(function, *args).result()


def main(argv):
  del argv
  rows = []
  for topology in _TOPOLOGIES.value:
    for name in _CONFIGS.value:
      for remat in ('none', 'full'):
        print(f'--- {name} on {topology}, remat {remat}', flush=True)
        figures = in_fresh_process(compile_row, name, topology, remat, _MAX_BATCH.value)
        rows.append(_row(name, topology, figures, remat))
        if figures['fits']:
          break
  print('| config | topology | global batch | remat | GiB per chip | PFLOPs per step | fits | '
        'largest batch that fits |')
  print('|---|---|---|---|---|---|---|---|')
  print('\n'.join(rows))


if __name__ == '__main__':
  app.run(main)
