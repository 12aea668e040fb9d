"""ViT-B/16: 86,567,656 params at 224px / 1000 classes (ViT paper Table 1: 86M).

COMMAND (ImageNet-1k; TFDS imagenet2012 needs its manual download, see docs/data.md):
  python -m big_uni.main --config=configs/vit_b16.py --workdir=/tmp/vit_b16
Published reference: 77.9% top-1 for B/16 trained on ImageNet-1k alone (ViT paper, Table 5);
big_uni has not been run at this scale yet (no accelerator on our machines).

Variants (`--config=configs/vit_b16.py:<arg>`): data=imagenet (the default) or data=mnist5k (the
published width/depth with patch 4 on MNIST-5k; `:mnist5k` for short); the flag smoke.
"""
from configs import common


def get_config(arg: str = ''):
  return common.vit('B/16', arg)
