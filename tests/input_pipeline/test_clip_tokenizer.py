"""OpenAI CLIP's byte-level BPE (tokenizer kind 'clip_bpe', HF `tokenizers`) gives the ids of
OpenAI's own tokenizer (open_clip's copy of clip/simple_tokenizer.py, read from open_clip's wheel)
on real captions with punctuation, digits, emoji, accents, non-Latin scripts and HTML entities."""
import importlib.util

import ml_collections
import numpy as np
import pytest

from input_pipeline import tokenizers, wheel_files
from input_pipeline.tokenizers import base, clip_bpe_tokenizer
from tests.helpers import import_or_skip

CAPTIONS = [
    'An image of pink primrose, a type of flower.',
    'A man riding a wave on top of a surfboard.',
    "Two dogs playing in the snow; one's got a red ball!!!",
    'The 3 kids ate 12 slices of pizza at 7:30pm (approx. $45.99).',
    'A cat 🐱 sleeping on a laptop 💻 — so cute 😍😍',
    'Café crème brûlée in Zürich, naïve façade, São Paulo, Ærøskøbing',
    '東京の夜景とスカイツリー', 'Москва, Красная площадь зимой', 'مدينة القاهرة ليلا',
    'Fish &amp; chips &lt;3 at the pub', '   lots   of\twhite\nspace   ',
    'ALL CAPS SHOUTING AND MiXeD CaSe', "it's, we're, they've, I'm, you'll, he'd",
    'hyphen-ated e-mail re-use state-of-the-art 2nd 3rd 1,000,000 3.14159',
    'mojibake: CafÃ© and â€œquotesâ€\x9d', '', '!?!?...',
    ' '.join(['a very long caption about a dog'] * 20),
]


@pytest.fixture(scope='module')
def reference():
  """OpenAI's SimpleTokenizer as open_clip 3.3.0 ships it (module loaded alone: importing the
  open_clip package needs torchvision, which has no build for the CPU torch here)."""
  import_or_skip('torch')
  path = wheel_files.wheel_file(clip_bpe_tokenizer.CLIP_BPE_WHEEL[0], 'open_clip/tokenizer.py')
  spec = importlib.util.spec_from_file_location('open_clip_tokenizer', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.SimpleTokenizer(
      wheel_files.wheel_file(*clip_bpe_tokenizer.CLIP_BPE_WHEEL))


@pytest.fixture(scope='module')
def ours():
  return tokenizers.build_tokenizer(ml_collections.ConfigDict(dict(kind='clip_bpe')))


def test_ids_equal_openai_tokenizer_at_77_tokens(ours, reference):
  ids, mask = ours.encode_padded(CAPTIONS, 77)
  np.testing.assert_array_equal(ids, reference(CAPTIONS).numpy())
  lengths = [min(len(reference.encode(c)) + 2, 77) for c in CAPTIONS]
  np.testing.assert_array_equal(mask.sum(axis=1), lengths)
  assert ours.vocab_size == 49408 and (ours.cls_id, ours.sep_id, ours.pad_id) == (49406, 49407, 0)


def test_decode_inverts_encode_up_to_openais_clean_up(ours, reference):
  for caption in CAPTIONS[:10]:
    ids = ours.encode(caption)
    assert ids == reference.encode(caption)
    assert ours.decode(ids) == reference.decode(ids).strip()


def test_clip_bpe_refuses_masked_language_modelling(ours):
  with pytest.raises(base.TokenizerFileError, match='no \\[MASK\\] token'):
    ours.special_ids()


def test_missing_merges_file_names_where_it_ships(tmp_path):
  with pytest.raises(base.TokenizerFileError,
                     match='bpe_simple_vocab_16e6.txt.gz .*pip install --no-deps open-clip-torch'):
    tokenizers.build_tokenizer(ml_collections.ConfigDict(dict(
        kind='clip_bpe', path=str(tmp_path / 'nothing.txt.gz'))))
