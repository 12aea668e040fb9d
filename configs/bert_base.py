"""BERT-base: 12 layers, 768 wide, 12 heads, MLP 3072, WordPiece 30,522, 512 positions, 2 segments.

109,482,240 params in the encoder + pooler (HF bert-base-uncased has the same), 110,106,428 with
the MLM and NSP heads (BERT paper: 110M).

COMMAND (Wikipedia from TFDS: download it, tokenize it once into chunks, train on them):
  tfds build wikipedia/20230601.en --data_dir=/data/tfds
  python -m input_pipeline.prepare_text --config=configs/bert_base.py \
      --config.input.data_dir=/data/tfds --output=/data/wikipedia_wordpiece_128
  python -m big_uni.main --config=configs/bert_base.py --workdir=/tmp/bert_base \
      --config.input.prepared_dir=/data/wikipedia_wordpiece_128
The preparation streams the articles one at a time through BERT's WordPiece on every core
(--workers) and writes ArrayRecord files of 128-token chunks; each training process then reads
only its rows of each batch. A run at --config.input.max_seq_len=512 needs its own preparation.
Published reference: MLM + NSP for 1M steps at batch 256 (4 days on 16 TPU chips); big_uni has
not been run at this scale (no accelerator on our machines).

Variant (`--config=configs/bert_base.py:<arg>`): the flag smoke.
"""
from configs import common, common_bert


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, smoke=False)
  config = common_bert.pretraining('base')
  return common_bert.smoke(config) if arg.smoke else config
