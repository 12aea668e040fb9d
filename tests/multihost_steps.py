"""Run by tests/test_multihost.py: one process of a run on localhost, through the real entry point
(train_and_evaluate) on BERT's smoke config (Austen text; each process reads only its rows).

  multihost_steps.py PROCESS_ID NUM_PROCESSES PORT WORKDIR TOTAL_STEPS MESH_JSON

Each process has 8 / NUM_PROCESSES fake CPU devices; processes meet at localhost:PORT.
"""
import json
import os
import sys

process_id, num_processes, port, workdir, total_steps, mesh = sys.argv[1:]
num_processes = int(num_processes)
os.environ['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={8 // num_processes}'

import jax  # pylint: disable=g-import-not-at-top

if num_processes > 1:
  jax.distributed.initialize(f'localhost:{port}', num_processes, int(process_id))

from big_uni import train  # pylint: disable=g-import-not-at-top
from configs import bert_base  # pylint: disable=g-import-not-at-top

config = bert_base.get_config('smoke')
config.update(dict(total_steps=int(total_steps), log_every_steps=1, checkpoint_every_steps=2))
# A constant learning rate: a run resumed with more total steps repeats the same first steps.
config.optimizer.update(dict(decay='constant', warmup_steps=0))
config.mesh.update({'data': 1, 'fsdp': 1, 'tensor': 1, **json.loads(mesh)})
train.train_and_evaluate(config, workdir)
