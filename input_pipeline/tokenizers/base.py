"""What every tokenizer kind is: text <-> ids with the special ids the pipelines need, and the
registry of kinds (`tokenizer.kind` -> its class) that build_tokenizer looks up."""
import os

import numpy as np

from input_pipeline import errors
from input_pipeline.registry import Registry

# tokenizer.kind -> its Tokenizer subclass (registered with `@register` beside it).
KINDS = Registry('tokenizer kind')
SPECIAL_PIECES = ('[CLS]', '[SEP]', '[MASK]')


class TokenizerFileError(errors.UserInputError, ValueError):
  """A tokenizer file that is missing or lacks the special tokens BERT needs."""


class Tokenizer:
  """Text <-> ids of one backend, with the special ids the pipelines need.

  A kind subclasses it with `kind`, `from_config` (tokenizer config -> tokenizer), `encode_batch`
  and `_decode`; those with a [MASK] token (masked-language modelling) override `word_start_mask`
  and `special_ids` too. `encode` adds no special tokens (the input pipelines place them).

  Attributes: kind, vocab_size, pad_id, unk_id, cls_id and sep_id (the first and last token of a
  text), mask_id (None without a [MASK]), pieces (the vocabulary, by id), lowercase and
  fingerprint (a hash of the vocabulary and options, for caches of tokenized text).
  """
  kind: str

  def __init__(self, backend, pieces: list[str], pad: str, unk: str, lowercase: bool,
               fingerprint: str, specials: tuple[str, ...] = SPECIAL_PIECES):
    """specials: the (start, end[, mask]) pieces; BERT's [CLS], [SEP], [MASK] by default."""
    self._backend, self.pieces = backend, pieces
    self.vocab_size = len(pieces)
    self.lowercase = lowercase
    self.fingerprint = fingerprint
    ids = {piece: i for i, piece in enumerate(pieces)}
    missing = [p for p in (pad, unk, *specials) if p not in ids]
    if missing:
      raise TokenizerFileError(f'the {self.kind} vocabulary has no {missing}: BERT needs them '
                               f'(train a sentencepiece model with `python -m '
                               f'input_pipeline.tokenizers`)')
    self.pad_id, self.unk_id = ids[pad], ids[unk]
    self.cls_id, self.sep_id = ids[specials[0]], ids[specials[1]]
    self.mask_id = ids[specials[2]] if len(specials) > 2 else None

  @classmethod
  def from_config(cls, tokenizer_config) -> 'Tokenizer':
    """The tokenizer of a schema-completed `config.input.tokenizer` of this kind."""
    raise NotImplementedError

  def encode(self, text: str) -> list[int]:
    """Ids of `text`, without special tokens."""
    return self.encode_batch([text])[0]

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    """Ids of each text."""
    raise NotImplementedError

  def encode_padded(self, texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """[CLS] text [SEP], cut and padded to `max_len`: (ids int32 [N, L], mask bool [N, L]).

    The layout of single texts everywhere (captions, prompts): a bidirectional tower pools
    [CLS] or the mean, a causal one the last real token ([SEP], CLIP's end of text)."""
    ids = np.full((len(texts), max_len), self.pad_id, np.int32)
    lengths = np.zeros((len(texts), 1), np.int32)
    for row, tokens in enumerate(self.encode_batch(list(texts))):
      tokens = [self.cls_id, *tokens[:max_len - 2], self.sep_id]
      ids[row, :len(tokens)], lengths[row] = tokens, len(tokens)
    return ids, np.arange(max_len)[None] < lengths

  def decode(self, ids) -> str:
    """Text of `ids`; special tokens are shown, e.g. '[MASK]'."""
    return self._decode([int(i) for i in ids])

  def _decode(self, ids: list[int]) -> str:
    raise NotImplementedError

  def word_start_mask(self) -> np.ndarray:
    """bool [vocab_size]: True where a token begins a word (whole-word masking groups a word's
    first token with the continuation tokens that follow it)."""
    raise self._no_mask_token()

  def special_ids(self) -> set[int]:
    """Ids that are never masked nor used as random replacements: [PAD], [UNK], [CLS], [SEP],
    [MASK] and the kind's other control symbols."""
    raise self._no_mask_token()

  def _special_token_ids(self) -> set[int]:
    """[PAD], [UNK], [CLS], [SEP] and [MASK]: the control symbols every masking kind has."""
    return {self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id}

  def _no_mask_token(self) -> TokenizerFileError:
    return TokenizerFileError(f'the {self.kind} tokenizer has no [MASK] token: masked-language '
                              'modelling needs a sentencepiece or WordPiece tokenizer')


def register(cls: type[Tokenizer]) -> type[Tokenizer]:
  """Class decorator: `cls` builds the tokenizers of `tokenizer.kind == cls.kind`."""
  return KINDS.register(cls.kind, cls)


def check_exists(path: str, expected: str) -> None:
  if not path or not os.path.isfile(path):
    raise TokenizerFileError(f'tokenizer file {path!r} does not exist: expected {expected}')
