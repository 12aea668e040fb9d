"""ViT-S/16: 22,050,664 params at 224px / 1000 classes (DeiT Table 1: 22M).

COMMAND (ImageNet-1k; TFDS imagenet2012 needs its manual download, see docs/data.md):
  python -m big_uni.main --config=configs/vit_s16.py --workdir=/tmp/vit_s16
Published reference: 79.8% top-1 for DeiT-S; 76.5% for big_vision's 90-epoch S/16 i1k recipe.
big_uni has not been run at this scale yet (no accelerator on our machines).

Variants (`--config=configs/vit_s16.py:<arg>`): data=imagenet (the default) or data=mnist5k (the
published width/depth with patch 4 on MNIST-5k; `:mnist5k` for short); the flag smoke.
"""
from configs import common


def get_config(arg: str = ''):
  return common.vit('S/16', arg)
