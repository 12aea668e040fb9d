"""Language-model windows (input.kind='token_windows') on a made-up corpus: they tile each
document, restart exactly at any step, split across processes, and eval is one padded pass; the
count-based baselines score the same targets."""
import ml_collections
import numpy as np
import pytest

import input_pipeline
from benchmarks import ngram_lm, text_baseline
from configs import lm_austen
from input_pipeline import token_windows
from tests.helpers import corpora, index_streams

_LENGTH = 16


@pytest.fixture(scope='module')
def windows_config(tmp_path_factory):
  """input_config of 16-token windows of 40 documents of 1 to 12 sentences (some shorter than a
  window), with a 300-piece sentencepiece vocabulary."""
  def document(rng, words):
    return ' '.join(' '.join(rng.choice(words, rng.integers(3, 15))).capitalize() + '.'
                    for _ in range(rng.integers(1, 13)))

  corpus = corpora.made_up_corpus(tmp_path_factory.mktemp('corpus'), seed=1, vocabulary=300,
                                  documents=40, document_text=document)
  return ml_collections.ConfigDict(dict(
      kind='token_windows', dataset=corpus, train_split='train', eval_split='validation',
      max_seq_len=_LENGTH, batch_size=8, cache_dir=str(tmp_path_factory.mktemp('prepared')),
      tokenizer=dict(kind='sentencepiece', train_corpus=corpus, vocab_size=300,
                     cache_dir=str(tmp_path_factory.mktemp('tokenizers')))))


def _documents(pipeline):
  """{document: its tokens} of the pipeline's split, read from the chunks directly."""
  chunks = pipeline.chunks.read(list(range(pipeline.chunks.num_chunks)))
  documents = {}
  for index in sorted(chunks):
    documents.setdefault(chunks[index].document, []).extend(chunks[index].tokens.tolist())
  return documents


def test_the_task_picks_this_pipeline():
  assert input_pipeline.kind_giving(['input_ids', 'input_mask']) == 'token_windows'


def test_one_eval_pass_tiles_every_document_with_one_token_of_overlap(windows_config):
  pipeline = token_windows.Pipeline(windows_config, 'train')
  batches = list(input_pipeline.get_iterator(windows_config, 'train', train=False,
                                             global_batch_size=8, seed=0))
  ids = np.concatenate([b['input_ids'] for b in batches])[np.concatenate([b['mask']
                                                                          for b in batches])]
  mask = np.concatenate([b['input_mask'] for b in batches])[:len(ids)]
  rebuilt, row = [], 0
  for tokens in _documents(pipeline).values():
    if len(tokens) < 2:
      continue
    windows = -(-(len(tokens) - 1) // (_LENGTH - 1))
    joined = ids[row][mask[row]].tolist()
    for r in range(row + 1, row + windows):
      assert ids[r - 1][mask[r - 1]][-1] == ids[r][0]  # One token of overlap.
      assert mask[r - 1].all()  # Only a document's last window is short.
      joined += ids[r][mask[r]].tolist()[1:]
    assert joined == tokens
    rebuilt.append(joined)
    row += windows
  assert row == len(ids) == input_pipeline.num_examples(windows_config, 'train')
  assert len(rebuilt) > 30 and (~mask).any()
  assert (ids[~mask] == pipeline.pad_id).all()


def test_restart_and_process_slices_reproduce_the_stream(windows_config):
  distinct = index_streams.assert_restarts_and_slices_reproduce_the_stream(windows_config,
                                                                           'input_ids')
  assert distinct > 0.95  # A permutation: (nearly) no repeats.


def test_eval_pads_the_last_batch(windows_config):
  size = input_pipeline.num_examples(windows_config, 'validation')
  batches = list(input_pipeline.get_iterator(windows_config, 'validation', train=False,
                                             global_batch_size=8, seed=0))
  assert len(batches) == -(-size // 8)
  last = batches[-1]
  assert last['mask'].sum() == size - 8 * (len(batches) - 1)
  assert not last['input_mask'][~last['mask']].any()


def test_baselines_score_each_token_but_a_documents_first_after_the_one_before(windows_config):
  contexts, targets = ngram_lm.predicted_pairs(input_pipeline.get_iterator(
      windows_config, 'validation', train=False, global_batch_size=8, seed=0))
  documents = _documents(token_windows.Pipeline(windows_config, 'validation')).values()
  assert contexts.tolist() == [t for d in documents for t in d[:-1]]
  assert targets.tolist() == [t for d in documents for t in d[1:]]
  config = lm_austen.get_config('smoke')
  config.input = windows_config
  config.model.vocab_size = 300
  results = text_baseline.lm_baselines(config, batch_size=8)
  assert results['predicted_tokens'] == len(targets)
  assert 1 < results['bigram_perplexity'] < results['unigram_perplexity'] < 300
