"""The CPU benchmark: a small ViT (4 layers, 96 wide, patch 7, GAP) on Fashion-MNIST, 60k/10k.

Data: the Debian package `dataset-fashion-mnist` (offline), else TFDS `fashion_mnist` (downloads).

COMMAND:
  python -m big_uni.main --config=configs/vit_fashion_mnist.py --workdir=/tmp/vit_fashion_mnist
Expected (measured): test_accuracy=0.9026 on the official 10k test set after 11,250 steps (24 epochs),
21 min 48 s wall on a 2-core x86-64 CPU; train accuracy reaches 96%, so it overfits.
"""
from configs import common


def get_config(arg: str = 'default'):
  config = common.base(num_epochs=24.0, log_every_steps=200, eval_every_steps=2000,
                       checkpoint_every_steps=2000, label_smoothing=0.1)
  common.fashion_mnist_input(config)
  config.model.update(dict(variant='mu/7', width=96, mlp_dim=384, pool='gap'))
  # Flips only: with 2-pixel shifts too, this small model learned too slowly for the budget.
  config.input.update(dict(batch_size=128, eval_batch_size=1000, augment='none', flip=True))
  config.optimizer.update(dict(lr=3e-3, weight_decay=0.05, warmup_steps=500, grad_clip_norm=1.0))
  return common.select_variant(config, arg)
