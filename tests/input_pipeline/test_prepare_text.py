"""Prepared text for BERT: the stateless epoch order, the chunk records, the prepare command,
random-access reading, and the errors of missing, mismatched or corrupt data."""
import os
import shutil
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

import input_pipeline
from input_pipeline import (bert_pairs, stateless_random, text_chunks, text_corpora,
                            text_preparation, tokenizers)
from input_pipeline.tokenizers import sentencepiece_trainer
from tests.helpers import corpora, generated_tfds


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
  """A text_files: corpus of 40 documents (36 train, 2 validation, 2 test)."""
  def document(rng, words):
    return '\n\n'.join(' '.join(' '.join(rng.choice(words, rng.integers(3, 30))).capitalize() + '.'
                                for _ in range(rng.integers(1, 5))) for _ in range(6))
  return corpora.made_up_corpus(tmp_path_factory.mktemp('corpus'), seed=1, vocabulary=200,
                                documents=40, document_text=document)


@pytest.fixture(scope='module')
def config(corpus, tmp_path_factory):
  base = tmp_path_factory.mktemp('prepared')
  return ml_collections.ConfigDict(dict(
      kind='bert_pretraining', dataset=corpus, prepared_dir='', cache_dir=str(base / 'cache'),
      train_split='train', eval_split='validation', max_seq_len=48, max_predictions=8,
      random_next_prob=0.5, short_seq_prob=0.1,
      tokenizer=dict(kind='sentencepiece', path='', train_corpus=corpus, vocab_size=200,
                     lowercase=False, cache_dir=str(base / 'tokenizers'))))


def _with(config, **fields):
  changed = ml_collections.ConfigDict(config.to_dict())
  changed.update(fields)
  return changed


def _prepared(config):
  return text_preparation.prepared_directory(config, tokenizers.build_tokenizer(config.tokenizer))


def _all_chunks(directory, metadata, split):
  reader = text_chunks.SplitReader(directory, split, metadata)
  chunks = reader.read(list(range(reader.num_chunks)))
  return [chunks[i] for i in range(reader.num_chunks)]


def _assert_same(a, b):
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_shuffle_is_a_stateless_permutation():
  for size in (1, 2, 3, 7, 64, 65, 1000):
    order = stateless_random.shuffle(np.arange(size), size, (0, 2, 5))
    assert sorted(order.tolist()) == list(range(size))
  order = stateless_random.shuffle(np.arange(1000), 1000, (0, 2, 5))
  np.testing.assert_array_equal(stateless_random.shuffle(np.arange(990, 1000), 1000, (0, 2, 5)),
                                order[990:])
  assert not np.array_equal(stateless_random.shuffle(np.arange(1000), 1000, (0, 2, 6)), order)
  assert abs(np.corrcoef(np.arange(1000), order)[0, 1]) < 0.1
  far = stateless_random.shuffle(np.array([0, 10**11 - 1]), 10**11, (1,))
  assert ((far >= 0) & (far < 10**11)).all()


def test_chunks_gather_sentences_to_the_target_length():
  sentences = [[1] * 5, [2] * 3, [3] * 12, [4] * 2, [5]]
  chunks = text_chunks.chunk_document(sentences, max_tokens=6)
  assert chunks == [[[1] * 5, [2] * 3], [[3] * 6], [[3] * 6], [[4] * 2, [5]]]
  chunk = text_chunks.decode(text_chunks.encode(7, chunks[0], 'uint16'), 'uint16', 'test')
  assert chunk.document == 7 and chunk.starts == [0, 5, 8]
  assert chunk.tokens.tolist() == [1] * 5 + [2] * 3


def test_prepared_splits_hold_the_corpus_in_document_order(config):
  directory, metadata = _prepared(config)
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  for split in text_corpora.SPLITS:
    documents = text_corpora.load_documents(config.dataset, split)
    chunks = _all_chunks(directory, metadata, split)
    expected = [t for d in documents for s in tokenizer.encode_batch(d) for t in s]
    assert np.concatenate([c.tokens for c in chunks]).tolist() == expected
    assert sorted({c.document for c in chunks}) == list(range(len(documents)))
    assert [c.document for c in chunks] == sorted(c.document for c in chunks)
    assert all(c.starts[-1] >= 45 for c, after in zip(chunks, chunks[1:])
               if c.document == after.document)  # Only a document's last chunk is short.
    info = metadata['splits'][split]
    assert info['chunks'] == len(chunks) == input_pipeline.num_examples(config, split)
    assert info['tokens'] == len(expected) and info['documents'] == len(documents)
  assert [metadata['splits'][s]['documents'] for s in text_corpora.SPLITS] == [36, 2, 2]


def test_prepare_command_writes_what_runs_read(config, tmp_path):
  (tmp_path / 'bert_config.py').write_text(
      'import ml_collections\n\n\ndef get_config():\n'
      f'  return ml_collections.ConfigDict({{"input": {config.to_dict()!r}}})\n')
  output = tmp_path / 'prepared'
  command = [sys.executable, '-m', 'input_pipeline.prepare_text',
             f'--config={tmp_path / "bert_config.py"}', f'--output={output}', '--workers=2']
  result = subprocess.run(command, capture_output=True, text=True, check=True)
  assert 'train: 36 documents' in result.stdout and 'tokens/s per CPU second' in result.stdout
  assert sorted(os.listdir(tmp_path)) == ['bert_config.py', 'prepared']  # No partial left.
  cached, cached_metadata = _prepared(config)  # Prepared in this process, without workers.
  read = text_chunks.read_metadata(str(output))
  for split in text_corpora.SPLITS:
    for a, b in zip(_all_chunks(str(output), read, split),
                    _all_chunks(cached, cached_metadata, split), strict=True):
      assert a.document == b.document and a.starts == b.starts
      np.testing.assert_array_equal(a.tokens, b.tokens)
  from_output = _with(config, prepared_dir=str(output))
  for train in (True, False):
    _assert_same(*(next(input_pipeline.get_iterator(c, 'validation', train=train,
                                                    global_batch_size=8, seed=3))
                   for c in (config, from_output)))
  again = subprocess.run(command, capture_output=True, text=True)
  assert again.returncode != 0 and f'{output} exists' in again.stderr


def test_prepared_data_must_match_the_config(config, tmp_path):
  directory, _ = _prepared(config)
  prepared = _with(config, prepared_dir=directory)
  with pytest.raises(text_chunks.PreparedTextError, match=r'max_seq_len=48, the config has '
                     r'input.max_seq_len=32: prepare the text for this config'):
    _prepared(_with(prepared, max_seq_len=32))
  other_vocabulary = _with(prepared)
  other_vocabulary.tokenizer.vocab_size = 150
  with pytest.raises(text_chunks.PreparedTextError, match='another sentencepiece vocabulary '
                     r'\(200 tokens\) than input.tokenizer \(sentencepiece, 150 tokens\)'):
    _prepared(other_vocabulary)
  with pytest.raises(text_chunks.PreparedTextError, match='holds corpus .* the config reads '
                     "input.dataset='austen'"):
    _prepared(_with(prepared, dataset='austen'))
  with pytest.raises(text_chunks.PreparedTextError, match='prepare_text --config=<this config> '
                     '--output=DIR` and set --config.input.prepared_dir=DIR'):
    _prepared(_with(config, dataset='wikipedia/20230601.en'))
  with pytest.raises(text_chunks.PreparedTextError, match='metadata.json is missing'):
    _prepared(_with(config, prepared_dir=str(tmp_path)))
  train_only = str(tmp_path / 'train_only')
  text_preparation.prepare(config, train_only, splits=('train',))
  with pytest.raises(text_chunks.PreparedTextError, match="has no split 'validation'"):
    input_pipeline.num_examples(_with(config, prepared_dir=train_only), 'validation')


def test_corrupt_or_empty_data_gives_a_clear_error(config, corpus, tmp_path):
  directory, _ = _prepared(config)

  def damaged(name, damage):
    copy = tmp_path / name
    shutil.copytree(directory, copy)
    damage(copy)
    return _with(config, prepared_dir=str(copy))

  def flip_bytes(copy):
    path = copy / 'train-00000.array_record'
    data = bytearray(path.read_bytes())
    data[2000:2100] = bytes(b ^ 0xFF for b in data[2000:2100])
    path.write_bytes(bytes(data))

  garbled = damaged('garbled', lambda c: (c / 'metadata.json').write_text('{"format": '))
  with pytest.raises(text_chunks.PreparedTextError, match='not readable JSON'):
    input_pipeline.num_examples(garbled, 'train')
  cut = damaged('cut', lambda c: (c / 'train-00000.array_record').write_bytes(b'\0' * 100))
  with pytest.raises(text_chunks.PreparedTextError, match='prepare the text again'):
    input_pipeline.num_examples(cut, 'train')
  missing = damaged('missing', lambda c: (c / 'validation-00000.array_record').unlink())
  with pytest.raises(text_chunks.PreparedTextError, match='is missing'):
    input_pipeline.num_examples(missing, 'validation')
  flipped = damaged('flipped', flip_bytes)
  with pytest.raises(text_chunks.PreparedTextError, match='could not be read .*hash mismatch'):
    list(input_pipeline.get_iterator(flipped, 'train', train=False, global_batch_size=512,
                                     seed=0))
  empty_files = tmp_path / 'empty'
  empty_files.mkdir()
  for index in range(3):
    (empty_files / f'{index}.txt').write_text('\n\n  \n')
  empty = _with(config, dataset=f'text_files:{empty_files}/*.txt')
  empty.tokenizer.path = sentencepiece_trainer.train_sentencepiece(  # `corpus`'s cached model.
      corpus, 200, cache_dir=config.tokenizer.cache_dir)
  with pytest.raises(text_chunks.PreparedTextError, match="split 'train' .* has no text"):
    input_pipeline.num_examples(empty, 'train')


def test_tfds_corpus_is_streamed_by_the_prepare_step(config, tmp_path):
  generated_tfds.prepare('imdb_reviews', str(tmp_path / 'tfds'), {'train': 40})
  tfds_config = _with(config, dataset='imdb_reviews', data_dir=str(tmp_path / 'tfds'))
  metadata = text_preparation.prepare(tfds_config, str(tmp_path / 'imdb'))
  assert [metadata['splits'][s]['documents'] for s in text_corpora.SPLITS] == [36, 2, 2]
  prepared = _with(tfds_config, prepared_dir=str(tmp_path / 'imdb'))
  (batch,) = input_pipeline.get_iterator(prepared, 'test', train=False, global_batch_size=16,
                                         seed=0)
  assert batch['mask'].sum() == metadata['splits']['test']['chunks'] >= 2


def test_row_draws_are_functions_of_their_key():
  keys = stateless_random.row_keys(0, 1, np.arange(1000, 1300))
  in_batch = stateless_random.batch_draws(keys)[7]
  alone = stateless_random.batch_draws(keys[7:8])[0]
  expected = stateless_random.uniforms(keys[7:8], 40)[0].tolist()  # Past the first block too.
  assert [in_batch.random() for _ in range(40)] == [alone.random() for _ in range(40)] == expected
  rows = stateless_random.batch_draws(keys)
  heads = np.array([row.heads(100) for row in rows])
  assert abs(heads.mean() - 50) < 1.5 and 3 < heads.std() < 7  # Binomial(100, 1/2): 50 +- 5.
  assert {row.integers(3, 7) for row in rows} == {3, 4, 5, 6}
  assert not np.array_equal(stateless_random.row_keys(1, 1, np.arange(5)),
                            stateless_random.row_keys(0, 1, np.arange(5)))


def _numbered_chunks(rng, longest: int, max_tokens: int = 29) -> list[text_chunks.Chunk]:
  """The chunks of 6 documents of 30 sentences of 1 to `longest` - 1 tokens, token t of
  document d being d * 1000 + t, so that a pair shows where its segments came from."""
  chunks = []
  for document in range(6):
    lengths = rng.integers(1, longest, 30)
    sentences = np.split(document * 1000 + np.arange(lengths.sum()), np.cumsum(lengths)[:-1])
    for chunk in text_chunks.chunk_document([s.tolist() for s in sentences], max_tokens):
      record = text_chunks.encode(document, chunk, 'int32')
      chunks.append(text_chunks.decode(record, 'int32', 'test'))
  return chunks


def _pairs(chunks, rng, count: int, max_tokens: int = 29):
  """(A, B, is_random_next) of `count` pairs of random chunks."""
  keys = stateless_random.row_keys(0, 0, np.arange(count))
  for chunk, draws in zip(rng.integers(len(chunks), size=count).tolist(),
                          stateless_random.batch_draws(keys)):
    yield chunk, *bert_pairs.create_pair(chunks.__getitem__, len(chunks), chunk, draws,
                                               max_tokens=max_tokens, short_seq_prob=0.1,
                                               random_next_prob=0.5)


def test_pairs_continue_their_document_or_come_from_another():
  rng = np.random.default_rng(0)
  chunks = _numbered_chunks(rng, longest=15)
  labels = []
  for chunk, a, b, label in _pairs(chunks, rng, 2000):
    labels.append(label)
    assert len(a) >= 1 and len(b) >= 1 and len(a) + len(b) <= 29
    assert (np.diff(a) == 1).all() and (np.diff(b) == 1).all()  # Truncation trims the ends.
    assert a[0] // 1000 == chunks[chunk].document
    if label:
      assert b[0] // 1000 != a[0] // 1000
    else:
      assert b[0] // 1000 == a[0] // 1000 and b[0] > a[-1]
  assert abs(np.mean(labels) - 0.5) < 0.05


def test_true_and_random_bs_start_and_end_alike():
  """Where A and B start and end does not tell a true B from a random one: both are whole
  sentences (or pieces of max_tokens of longer ones, as prepared) before truncation, which then
  trims the longer segment at random ends whatever the label. Sentences of up to 59 tokens make
  most pairs of 29 tokens start from a sentence or piece that fills the pair alone, as Austen's
  do at 32 tokens (where the old pairs cut that sentence at a random token for a true B)."""
  rng = np.random.default_rng(0)
  chunks = _numbered_chunks(rng, longest=60)
  boundaries = {int(c.tokens[0]) + s for c in chunks for s in c.starts}
  at_boundaries = {label: [] for label in (0, 1)}  # A starts, A ends, B starts, B ends there.
  for _, a, b, label in _pairs(chunks, rng, 4000):
    edges = (a[0], a[-1] + 1, b[0], b[-1] + 1)
    at_boundaries[label].append([edge in boundaries for edge in edges])
    if len(a) + len(b) < 29:  # Not truncated: whole sentences.
      assert all(edge in boundaries for edge in edges), (a, b, label)
  true_next, random_next = (np.mean(at_boundaries[label], axis=0) for label in (0, 1))
  # ~2,000 pairs a label: a rate's standard error is <= 0.011. Truncation leaves differences of
  # up to 0.03 here (true and random Bs' lengths differ a little); the old pairs: 0.47.
  np.testing.assert_allclose(true_next, random_next, atol=0.05)
