"""BERT-large: 24 layers, 1024 wide, 16 heads, MLP 4096, WordPiece 30,522, 512 positions, 2 segments.

335,141,888 params in the encoder + pooler (HF bert-large-uncased has the same), 336,226,108
with the MLM and NSP heads (BERT paper: 340M).

COMMAND (Wikipedia from TFDS, prepared with `tfds build wikipedia/20230601.en`):
  python -m big_uni.main --config=configs/bert_large.py --workdir=/tmp/bert_large
Published reference: MLM + NSP for 1M steps at batch 256 (4 days on 16 TPU chips); big_uni has
not been run at this scale (no accelerator on our machines).

Variants (`--config=configs/bert_large.py:<variant>`): wikipedia (default), smoke.
"""
from configs import common_bert


def get_config(arg: str = 'wikipedia'):
  config = common_bert.pretraining('large')
  if arg == 'smoke':
    return common_bert.smoke(config)
  if arg != 'wikipedia':
    raise ValueError(f'unknown variant {arg!r}: wikipedia or smoke')
  return config
