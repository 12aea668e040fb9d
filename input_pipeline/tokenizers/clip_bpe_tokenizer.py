"""Tokenizer kind 'clip_bpe': OpenAI CLIP's byte-level BPE, through Hugging Face `tokenizers`."""
import gzip
import hashlib
import html

import ftfy
import tokenizers as hf_tokenizers

from input_pipeline import wheel_files
from input_pipeline.tokenizers import base

# OpenAI's BPE merges (bpe_simple_vocab_16e6.txt.gz) ship in open_clip's wheel; only the file is
# read (open_clip and its torch/torchvision are not imported).
CLIP_BPE_WHEEL = ('open-clip-torch==3.3.0', 'open_clip/bpe_simple_vocab_16e6.txt.gz')
CLIP_START, CLIP_END = '<|startoftext|>', '<|endoftext|>'
# OpenAI's split of cleaned, lower-cased text into words before BPE (clip/simple_tokenizer.py).
_CLIP_WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


@base.register
class ClipBpeTokenizer(base.Tokenizer):
  """OpenAI CLIP's tokenization of a bpe_simple_vocab_16e6.txt.gz: text cleaned as OpenAI does
  (ftfy, HTML entities, whitespace, lower case), split into words by OpenAI's pattern, then
  byte-level BPE with '</w>' ending each word; 49,408 ids with <|startoftext|> = 49406 and
  <|endoftext|> = 49407. Padding is id 0 ('!'), as OpenAI pads; the mask says what is text.
  It has no [MASK]: no masked-language modelling."""
  kind = 'clip_bpe'

  @classmethod
  def from_config(cls, tokenizer_config) -> 'ClipBpeTokenizer':
    """path '' is OpenAI's merges in open_clip's wheel."""
    return cls.from_file(tokenizer_config.path or wheel_files.wheel_file(*CLIP_BPE_WHEEL))

  @classmethod
  def from_file(cls, merges_file: str) -> 'ClipBpeTokenizer':
    base.check_exists(merges_file, 'OpenAI\'s bpe_simple_vocab_16e6.txt.gz (it ships as '
                                   f'{CLIP_BPE_WHEEL[1]} in `pip install --no-deps '
                                   'open-clip-torch`)')
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
    return cls(backend, pieces, pieces[0], CLIP_END, True, digest.hexdigest(),
               specials=(CLIP_START, CLIP_END))

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    """Ids of each text, cleaned as OpenAI does (`tokenizers` encodes a batch on several
    threads)."""
    return [e.ids for e in self._backend.encode_batch([_clip_clean(t) for t in texts],
                                                      add_special_tokens=False)]

  def _decode(self, ids: list[int]) -> str:
    return self._backend.decode(ids, skip_special_tokens=False).strip()


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
