"""ViT-H/14: 632,045,800 params at 224px / 1000 classes (ViT paper Table 1: 632M).

COMMAND (ImageNet-1k; TFDS imagenet2012 needs its manual download, see docs/data.md):
  python -m big_uni.main --config=configs/vit_h14.py --workdir=/tmp/vit_h14
Published reference: 88.55% top-1 after JFT-300M pretraining (ViT paper, Table 2); from scratch on ImageNet-1k it overfits.
big_uni has not been run at this scale yet (no accelerator on our machines).

Variants (`--config=configs/vit_h14.py:<arg>`): data=imagenet (the default) or data=mnist5k (the
published width/depth with patch 4 on MNIST-5k; `:mnist5k` for short); the flag smoke.
"""
from configs import common


def get_config(arg: str = ''):
  return common.vit('H/14', arg)
