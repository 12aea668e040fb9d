"""CLIP B/16 with OpenAI's shapes: ViT-B/16 image tower (86M), 12-layer 512-wide text tower,
joint space 512 wide. 149,620,737 params, as OpenAI's released model (CLIP paper, Table 20).

COMMAND (TFDS coco_captions, prepared with `tfds build coco_captions`; OpenAI's 49,408-token BPE):
  python -m big_uni.main --config=configs/clip_b16.py --workdir=/tmp/clip_b16
Published reference: OpenAI trained on 400M private pairs for 32 epochs at batch 32,768; big_uni
has not been run at this scale (no accelerator on our machines).

Variants (`--config=configs/clip_b16.py:<arg>`), flags that compose: siglip (the same with SigLIP's
sigmoid loss, logit bias and init), smoke.
"""
from configs import common, common_clip


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, siglip=False, smoke=False)
  config = common_clip.pretraining('B/16')
  if arg.siglip:
    common_clip.siglip(config)
  return common_clip.smoke(config) if arg.smoke else config
