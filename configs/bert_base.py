"""BERT-base: 12 layers, 768 wide, 12 heads, MLP 3072, WordPiece 30,522, 512 positions, 2 segments.

109,482,240 params in the encoder + pooler (HF bert-base-uncased has the same), 110,106,428 with
the MLM and NSP heads (BERT paper: 110M).

COMMAND (Wikipedia from TFDS, prepared with `tfds build wikipedia/20230601.en`):
  python -m big_uni.main --config=configs/bert_base.py --workdir=/tmp/bert_base
Published reference: MLM + NSP for 1M steps at batch 256 (4 days on 16 TPU chips); big_uni has
not been run at this scale (no accelerator on our machines).

Variants (`--config=configs/bert_base.py:<variant>`): wikipedia (default), smoke.
"""
from configs import common_bert


def get_config(arg: str = 'wikipedia'):
  config = common_bert.pretraining('base')
  if arg == 'smoke':
    return common_bert.smoke(config)
  if arg != 'wikipedia':
    raise ValueError(f'unknown variant {arg!r}: wikipedia or smoke')
  return config
