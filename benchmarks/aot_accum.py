r"""Per-chip bytes of a config's pod step by gradient accumulation and contrastive loss, from the
TPU compiler (as `--mode=aot`; no TPU needed):

  python -m benchmarks.aot_accum --config=clip_b16 --topology=v5e-256 --grad_accum_steps=1,8 \
      --losses=softmax,sigmoid

Settings as the TPU table of docs/performance.md (aot_table.pod_config): the config's own batch
size, float32 params, bfloat16 compute, scanned layers, FSDP over every chip, no remat. Each compile
runs in a fresh process. Prints a Markdown table.

`--loss_only` compiles just the contrastive loss and its gradient w.r.t. the embeddings [B, E] of
the config's batch, rows sharded over every chip: the bytes the similarity matrix takes. For so
small a program the TPU compiler's temporaries do not track the buffers (0.1 MiB at batch 8,192 on
v5e-256, for either loss); `--topology=cpu` (the CPU devices, e.g.
XLA_FLAGS=--xla_force_host_platform_device_count=8) counts every one.
"""
import jax
import jax.numpy as jnp
from absl import app, flags
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from benchmarks import aot_table
from big_uni import aot, train
from big_uni.tasks import contrastive

_CONFIG = flags.DEFINE_string('config', 'clip_b16', 'configs/<name>.py, optionally :variant.')
_TOPOLOGY = flags.DEFINE_string('topology', 'v5e-256', 'A TPU slice of aot.TOPOLOGIES.')
_ACCUM = flags.DEFINE_list('grad_accum_steps', ['1', '8'], 'Micro-batches per step.')
_LOSSES = flags.DEFINE_list('losses', ['softmax', 'sigmoid'], 'Contrastive losses.')
_REMAT = flags.DEFINE_string('remat', 'none', 'Remat policy of every tower.')
_LOSS_ONLY = flags.DEFINE_bool('loss_only', False, 'Compile only the loss on embeddings.')


def compile_one(name: str, topology_name: str, remat: str, loss: str, accum: int) -> dict:
  config = aot_table.pod_config(name, remat)
  config.contrastive_loss = loss
  config.grad_accum_steps = accum
  topology = aot.get_topology(topology_name)
  trainer = train.Trainer(config, total_steps=1, devices=topology.devices)
  return aot.compile_step(trainer, config.input.batch_size)


def compile_loss(name: str, topology_name: str, loss: str) -> dict:
  config = aot_table.pod_config(name)
  devices = (jax.devices('cpu') if topology_name == 'cpu'
             else aot.get_topology(topology_name).devices)
  mesh = Mesh(devices, ('data',))
  rows = NamedSharding(mesh, PartitionSpec('data'))
  embeddings = jax.ShapeDtypeStruct((config.input.batch_size, config.model.embed_dim),
                                    jnp.float32, sharding=rows)
  bias = 0.0 if loss == 'softmax' else -10.0
  grad = jax.jit(jax.value_and_grad(
      lambda image, text: contrastive.contrastive_loss(image, text, 10.0, bias, loss), (0, 1)))
  with jax.set_mesh(mesh):
    memory = grad.lower(embeddings, embeddings).compile().memory_analysis()
  return {'global_batch': config.input.batch_size, 'fits': True, 'compile_s': 0.0,
          'temp_bytes': memory.temp_size_in_bytes,
          'total_bytes': (memory.argument_size_in_bytes + memory.output_size_in_bytes
                          + memory.temp_size_in_bytes)}


def main(argv):
  del argv
  rows = []
  for loss in _LOSSES.value:
    for accum in map(int, _ACCUM.value):
      if _LOSS_ONLY.value:
        figures = aot_table.in_fresh_process(compile_loss, _CONFIG.value, _TOPOLOGY.value, loss)
      else:
        figures = aot_table.in_fresh_process(compile_one, _CONFIG.value, _TOPOLOGY.value,
                                             _REMAT.value, loss, accum)
      mib = lambda b: '-' if b is None else f'{b / 2**20:,.1f}'
      rows.append(f'| {_CONFIG.value} | {_TOPOLOGY.value} | {figures["global_batch"]:,} | '
                  f'{loss} | {accum} | {_REMAT.value} | {mib(figures["total_bytes"])} | '
                  f'{mib(figures.get("temp_bytes"))} | {"yes" if figures["fits"] else "no"} | '
                  f'{figures["compile_s"]:.0f} |')
      print(rows[-1], flush=True)
  print('| config | topology | global batch | loss | grad_accum_steps | remat | MiB per chip | '
        'MiB temporaries | fits | compile s |\n|---|---|---|---|---|---|---|---|---|---|')
  print('\n'.join(rows))


if __name__ == '__main__':
  app.run(main)
