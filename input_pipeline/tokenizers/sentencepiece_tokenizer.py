"""Tokenizer kind 'sentencepiece': a unigram model trained here on a corpus (sentencepiece_trainer)
or given as a .model file."""
import hashlib

import numpy as np
import sentencepiece as spm

from input_pipeline.tokenizers import base, sentencepiece_trainer


@base.register
class SentencePieceTokenizer(base.Tokenizer):
  """A sentencepiece .model with a pad id and [CLS], [SEP], [MASK] as user-defined symbols."""
  kind = 'sentencepiece'

  @classmethod
  def from_config(cls, tokenizer_config) -> 'SentencePieceTokenizer':
    """path '' trains one on train_corpus with vocab_size (cached in cache_dir)."""
    path = tokenizer_config.path
    if not path:
      path = sentencepiece_trainer.train_sentencepiece(
          tokenizer_config.train_corpus, tokenizer_config.vocab_size,
          lowercase=tokenizer_config.lowercase,
          cache_dir=tokenizer_config.cache_dir or sentencepiece_trainer.CACHE_DIR)
    return cls.from_file(path, tokenizer_config.lowercase)

  @classmethod
  def from_file(cls, path: str, lowercase: bool = False) -> 'SentencePieceTokenizer':
    """The model at `path`; `lowercase` lowercases text before encoding (the model must have
    been trained that way)."""
    base.check_exists(path, 'a sentencepiece .model file (or leave tokenizer.path empty to train '
                            'one on tokenizer.train_corpus)')
    try:
      processor = spm.SentencePieceProcessor(model_file=path)
    except RuntimeError as e:  # sentencepiece's only error type: 'could not parse ModelProto'
      raise base.TokenizerFileError(f'{path} is not a sentencepiece .model file ({e})') from None
    if processor.pad_id() < 0:
      raise base.TokenizerFileError(f'{path} has no pad id: train it with pad_id set (as '
                                    f'`python -m input_pipeline.tokenizers` does)')
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    digest = hashlib.sha256(processor.serialized_model_proto())
    digest.update(str(lowercase).encode())
    return cls(processor, pieces, pieces[processor.pad_id()], pieces[processor.unk_id()],
               lowercase, digest.hexdigest())

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    """Ids of each text (sentencepiece encodes a batch on several threads)."""
    if self.lowercase:
      texts = [t.lower() for t in texts]
    return self._backend.encode(list(texts), out_type=int)

  def _decode(self, ids: list[int]) -> str:
    return self._backend.decode(ids)

  def word_start_mask(self) -> np.ndarray:
    return np.array([p.startswith('\u2581') for p in self.pieces])

  def special_ids(self) -> set[int]:
    """The named special tokens and sentencepiece's control and unused pieces."""
    processor = self._backend
    return self._special_token_ids() | {i for i in range(self.vocab_size)
                                        if processor.is_control(i) or processor.is_unused(i)}
