"""ViT-Ti/16: 5,717,416 params at 224px / 1000 classes (DeiT Table 1: 5M).

COMMAND (ImageNet-1k; TFDS imagenet2012 needs its manual download, see docs/data.md):
  python -m big_uni.main --config=configs/vit_ti16.py --workdir=/tmp/vit_ti16
Published reference: 72.2% top-1 for DeiT-Ti (300 epochs, strong augmentation; DeiT Table 7).
big_uni has not been run at this scale yet (no accelerator on our machines).

Variants (`--config=configs/vit_ti16.py:<arg>`): data=imagenet (the default) or data=mnist5k (the
published width/depth with patch 4 on MNIST-5k; `:mnist5k` for short); the flag smoke.
"""
from configs import common


def get_config(arg: str = ''):
  return common.vit('Ti/16', arg)
