"""Cost of one checkpoint of a config's train state (params + optimizer state): bytes written and
seconds of the synchronous part of the async save (checksums + orbax's copy to host), the part
the train loop waits for, beside the background write. Every float of the state is random, as
after training (a fresh state's zero optimizer moments would compress to almost nothing).

  python -m benchmarks.checkpoint_bench --config=configs/vit_b16.py --workdir=/tmp/ckpt_bench
"""
import os
import shutil
import time

import jax
import jax.numpy as jnp
from absl import app, flags, logging
from ml_collections import config_flags

from big_uni import checkpoint, train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file, optionally :variant.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Scratch directory (emptied first).')
_SAVES = flags.DEFINE_integer('saves', 3, 'Saves to time; the first also compiles checksums.')


def _bytes_under(path: str) -> int:
  return sum(os.path.getsize(os.path.join(folder, name))
             for folder, _, names in os.walk(path) for name in names)


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)  # orbax logs every save, and every wait for one
  shutil.rmtree(_WORKDIR.value, ignore_errors=True)
  trainer = train.Trainer(_CONFIG.value, total_steps=1)
  leaves, tree = jax.tree.flatten(trainer.init_state())
  keys = jax.random.split(jax.random.key(0), len(leaves))
  state = jax.block_until_ready(jax.tree.unflatten(tree, [
      jax.device_put(jax.random.normal(key, x.shape, x.dtype), x.sharding)
      if jnp.issubdtype(x.dtype, jnp.floating) else x for key, x in zip(keys, leaves)]))
  array_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
  print(f'{train.count_params(state.params):,} params; train state {array_bytes / 2**20:.1f} MiB '
        'in memory')
  saver = checkpoint.Checkpointer(_WORKDIR.value, every_steps=1, keep=_SAVES.value)
  for step in range(1, _SAVES.value + 1):
    start = time.perf_counter()
    saver.save(step, state)
    blocking = time.perf_counter() - start
    saver.wait()  # For the background write.
    total = time.perf_counter() - start
    written = _bytes_under(os.path.join(_WORKDIR.value, str(step)))
    print(f'save {step}: {written / 2**20:.1f} MiB written, synchronous part {blocking:.2f} s, '
          f'whole save {total:.2f} s')
  saver.close()


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
