"""Translation pairs (input.kind='translation') on a made-up Ding file (no data package needed):
row layout, one vocabulary for both languages, long pairs left out or cut, exact restarts,
padded eval, refusals; and TFDS WMT14 read offline from generated examples."""
import os

import ml_collections
import numpy as np
import pytest

import input_pipeline
from input_pipeline import errors, parallel_corpora, sources, text_corpora, tokenizers
from input_pipeline import translation
from tests.helpers import generated_tfds, index_streams

_S, _T = 16, 18  # max_source_len, max_target_len: some made-up pairs are longer.


def _made_up_ding(path, rng) -> None:
  """400 entries: a headword sense, then a sentence of 'Er' and 0-15 made-up German words and its
  'translation', 'He' and the English words of its German ones in reverse order."""
  letters = list('abdeghiklmnoprstuw')
  german = [''.join(rng.choice(letters, rng.integers(2, 9))) for _ in range(150)]
  english = {w: ''.join(rng.choice(letters, rng.integers(2, 9))) + 'y' for w in german}
  lines = ['# Version :: made up']
  for index in range(400):
    words = list(rng.choice(german, rng.integers(0, 16)))
    de = ' '.join(['Er', *words]) + '.'
    en = ' '.join(['He', *(english[w] for w in words[::-1])]) + '.'
    lines.append(f'Wort{index} {{n}} [ugs.] | {de} :: word{index} | {en} [coll.]')
  path.write_text('\n'.join(lines) + '\n')


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  """input_config of the made-up Ding file as 'ding_de_en', with a 300-piece vocabulary."""
  path = tmp_path_factory.mktemp('ding') / 'de-en'
  _made_up_ding(path, np.random.default_rng(0))
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(text_corpora, 'DING_DE_EN', str(path))
    text_corpora.ding_pairs.cache_clear()
    yield ml_collections.ConfigDict(dict(
        kind='translation', dataset='ding_de_en', source_language='de', target_language='en',
        train_split='train', eval_split='validation', max_source_len=_S, max_target_len=_T,
        batch_size=8, tokenizer=dict(kind='sentencepiece', train_corpus='ding_de_en',
                                     vocab_size=300,
                                     cache_dir=str(tmp_path_factory.mktemp('tokenizers')))))
  text_corpora.ding_pairs.cache_clear()


def _with(config, **fields):
  config = config.copy_and_resolve_references()
  config.update(fields)
  return config


def _eval_rows(config, split):
  """The unpadded rows of one eval pass, concatenated."""
  batches = list(input_pipeline.get_iterator(config, split, train=False, global_batch_size=8,
                                             seed=0))
  real = np.concatenate([b['mask'] for b in batches])
  return {k: np.concatenate([b[k] for b in batches])[real] for k in batches[0] if k != 'mask'}


def test_the_task_picks_this_pipeline():
  assert input_pipeline.kind_giving(
      ['source_ids', 'source_mask', 'target_ids', 'target_mask']) == 'translation'


def test_eval_rows_are_the_pairs_source_eos_and_bos_target_eos(config):
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  eos, bos = tokenizer.sep_id, tokenizer.cls_id
  sources, targets = translation.sentence_pairs(config, 'validation')
  rows = _eval_rows(config, 'validation')
  assert rows['source_ids'].shape == (len(sources), _S)
  assert rows['target_ids'].shape == (len(sources), _T)
  assert rows['source_ids'].dtype == rows['target_ids'].dtype == np.int32
  assert rows['source_mask'].dtype == rows['target_mask'].dtype == bool
  cut = 0
  for row, (source, target) in enumerate(zip(sources, targets)):
    source_ids = [*tokenizer.encode(source), eos]
    target_ids = [bos, *tokenizer.encode(target), eos]
    cut += len(source_ids) > _S or len(target_ids) > _T
    assert rows['source_ids'][row][rows['source_mask'][row]].tolist() == source_ids[:_S]
    assert rows['target_ids'][row][rows['target_mask'][row]].tolist() == target_ids[:_T]
    if len(target_ids) <= _T:
      assert tokenizer.decode(target_ids[1:-1]) == target
  assert 0 < cut < len(sources)  # Cut to the maximum lengths, their EOS with them.
  assert translation.encode(config, 'validation', tokenizer).truncated == cut
  for name in ('source', 'target'):  # Padding after the tokens, and only there.
    mask = rows[f'{name}_mask']
    assert (rows[f'{name}_ids'][~mask] == tokenizer.pad_id).all()
    assert (np.diff(mask.astype(int), axis=1) <= 0).all()
  assert translation.references(config, 'validation') == targets


def test_one_vocabulary_trained_on_both_sides_of_the_training_pairs(config):
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  documents = text_corpora.load_documents('ding_de_en', 'train')
  assert [tuple(d) for d in documents] == list(zip(*translation.sentence_pairs(config, 'train')))
  # Every German sentence begins with 'Er', every English one with 'He': pieces of both.
  assert {'\u2581Er', '\u2581He'} <= set(tokenizer.pieces)
  assert tokenizer.unk_id not in {i for d in documents for s in d for i in tokenizer.encode(s)}


def test_training_leaves_out_the_pairs_too_long(config):
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  sources, targets = translation.sentence_pairs(config, 'train')
  fits = [len(tokenizer.encode(s)) + 1 <= _S and len(tokenizer.encode(t)) + 2 <= _T
          for s, t in zip(sources, targets)]
  encoded = translation.encode(config, 'train', tokenizer)
  assert encoded.dropped == fits.count(False) > 0 and encoded.truncated == 0
  assert input_pipeline.num_examples(config, 'train') == fits.count(True)
  batch = next(index_streams.stream(config))
  assert (batch['target_ids'][:, 0] == tokenizer.cls_id).all()
  last = batch['target_mask'].sum(1) - 1  # Every training target ends in EOS.
  assert (batch['target_ids'][np.arange(8), last] == tokenizer.sep_id).all()
  assert (batch['source_ids'][np.arange(8), batch['source_mask'].sum(1) - 1]
          == tokenizer.sep_id).all()


def test_restart_and_process_slices_reproduce_the_stream(config):
  distinct = index_streams.assert_restarts_and_slices_reproduce_the_stream(config, 'source_ids')
  assert distinct == 1.0  # A permutation of distinct sources.


def test_eval_pads_the_last_batch(config):
  size = input_pipeline.num_examples(config, 'test')
  batches = list(input_pipeline.get_iterator(config, 'test', train=False, global_batch_size=8,
                                             seed=0))
  assert len(batches) == -(-size // 8) and size % 8
  last = batches[-1]
  assert last['mask'].sum() == size - 8 * (len(batches) - 1)
  pad_id = tokenizers.build_tokenizer(config.tokenizer).pad_id
  for name in ('source', 'target'):
    assert not last[f'{name}_mask'][~last['mask']].any()
    assert (last[f'{name}_ids'][~last['mask']] == pad_id).all()


@pytest.mark.parametrize('fields,message', [
    (dict(max_source_len=1), 'a source needs at least 2 tokens'),
    (dict(max_target_len=2), r'a target 3 \(BOS, one, EOS\)'),
    (dict(target_language='fr'), r"translates between the languages \['de', 'en'\]"),
    (dict(target_language='de'), 'two different ones'),
    (dict(max_source_len=2), 'are longer than input.max_source_len=2'),
])
def test_bad_input_is_refused(config, fields, message):
  with pytest.raises(errors.UserInputError, match=message):
    input_pipeline.num_examples(_with(config, **fields), 'train')


def test_a_split_without_pairs_is_refused(config, monkeypatch):
  monkeypatch.setattr(parallel_corpora, 'sentence_pairs', lambda *args, **kwargs: ([], []))
  with pytest.raises(errors.UserInputError, match="split 'test' of 'ding_de_en' has no sentence"):
    input_pipeline.num_examples(_with(config, max_target_len=_T + 1), 'test')  # Not cached.


def test_wmt14_is_read_from_tfds(config, tmp_path):
  wmt = _with(config, dataset='wmt14_translate/de-en', data_dir=str(tmp_path),
              source_language='en', target_language='de', eval_split='test')
  with pytest.raises(sources.DatasetNotPreparedError,
                     match=f'tfds build wmt14_translate/de-en --data_dir={tmp_path}'):
    translation.references(wmt, 'test')
  assert not os.listdir(tmp_path)  # Nothing downloaded.
  generated_tfds.prepare('wmt14_translate/de-en', str(tmp_path),
                         {'train': 20, 'validation': 5, 'test': 5})
  sources_, references = translation.sentence_pairs(wmt, 'test')
  assert sources_[2].startswith('The en of example') and references[2].startswith('The de of')
  german, english = text_corpora.load_documents('wmt14_translate/de-en', 'train',
                                                data_dir=str(tmp_path))[0]
  assert german.startswith('The de of') and english == german.replace('The de', 'The en')
  rows = _eval_rows(_with(wmt, max_source_len=64, max_target_len=64), 'test')
  assert len(rows['source_ids']) == 5
  with pytest.raises(errors.UserInputError, match=r"languages \['de', 'en'\]"):
    translation.references(_with(wmt, source_language='fr'), 'test')


def test_the_algorithmic_reversal_reverses_dings_english_words(config):
  english = parallel_corpora.sentence_pairs('ding_de_en', 'validation', 'de', 'en')[1]
  sources, targets = parallel_corpora.sentence_pairs('ding_en_reversed', 'validation', 'en',
                                                     'reversed')
  assert sources == english and len(targets) == len(english) > 0
  assert targets[0].split() == english[0].split()[::-1]
  with pytest.raises(errors.UserInputError, match='reversed'):
    parallel_corpora.sentence_pairs('ding_en_reversed', 'validation', 'de', 'en')
