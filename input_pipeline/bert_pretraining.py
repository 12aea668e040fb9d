"""BERT pretraining batches (input.kind='bert_pretraining'): masked LM and next-sentence pairs.

Numpy only. The corpus (input_pipeline.text_corpora) is tokenized once per process; each epoch
builds its sentence pairs from the documents with BERT's create_pretraining_data algorithm and
shuffles them, both seeded by (seed, epoch), and every pair is masked afresh with a generator
seeded by (seed, its index in the stream). The batch at step s is a pure function of (seed, s):
a restart at `start_step` sees exactly the batches an uninterrupted run would, and the processes
of a multi-host run each compute their own slice of the same global batch.

input_config fields: dataset (a corpus name, e.g. 'austen'), train_split, eval_split,
max_seq_len (128), max_predictions (20), mask_prob (0.15), random_next_prob (0.5),
whole_word_mask (False), short_seq_prob (0.1), tokenizer (see input_pipeline.tokenizers), and for TFDS
corpora data_dir and download.
"""
import dataclasses
import itertools
import math

import numpy as np

from input_pipeline import text_corpora, tokenizers

# Evaluation pairs and their masks use this seed whatever the run's seed, so every run of a
# corpus is evaluated on the same batches.
EVAL_SEED = 0
_PAIRS, _MASKS = 0, 1  # Streams of the random generators: pair building, masking.
_CORPORA = {}  # (dataset, split, tokenizer fingerprint) -> TokenizedCorpus, once per process.


@dataclasses.dataclass(frozen=True)
class TokenizedCorpus:
  """All sentences of a split back to back: sentence i is tokens[sentence_starts[i]:
  sentence_starts[i + 1]], document d is sentences document_starts[d]:document_starts[d + 1]."""
  tokens: np.ndarray  # int32 [num_tokens]
  sentence_starts: np.ndarray  # int64 [num_sentences + 1]
  document_starts: np.ndarray  # int64 [num_documents + 1]


def tokenized_corpus(input_config, split: str, tokenizer) -> TokenizedCorpus:
  """The documents of `split` tokenized (cached in memory; Austen with sentencepiece: ~1 s)."""
  key = (input_config.dataset, split, tokenizer.fingerprint)
  if key not in _CORPORA:
    documents = text_corpora.load_documents(
        input_config.dataset, split, data_dir=input_config.get('data_dir') or None,
        download=input_config.get('download', False))
    sentences = [tokenizer.encode_batch(document) for document in documents]
    sentences = [[s for s in document if s] for document in sentences]
    sentences = [document for document in sentences if document]
    lengths = [len(s) for document in sentences for s in document]
    if not lengths:
      raise ValueError(f'corpus {input_config.dataset!r} has no text in split {split!r}')
    _CORPORA[key] = TokenizedCorpus(
        tokens=np.fromiter(itertools.chain.from_iterable(
            itertools.chain.from_iterable(sentences)), np.int32, sum(lengths)),
        sentence_starts=np.concatenate([[0], np.cumsum(lengths)]),
        document_starts=np.concatenate([[0], np.cumsum([len(d) for d in sentences])]))
  return _CORPORA[key]


def create_pairs(corpus: TokenizedCorpus, rng: np.random.Generator, *, max_seq_len: int,
                 short_seq_prob: float, random_next_prob: float) -> np.ndarray:
  """One epoch of sentence pairs, in document order: int64 [num_pairs, 5] rows
  (a_start, a_end, b_start, b_end, is_random_next), segments A and B being tokens[start:end].

  BERT's create_instances_from_document: gather a document's sentences up to a target length
  (max_seq_len - 3, or with probability short_seq_prob a random shorter one), cut them into A and
  B at a random sentence boundary; with probability random_next_prob B is instead a span of a
  random other document and the unused sentences go back. Then the longer segment loses tokens
  at a random end until the pair fits. Unlike BERT, a chunk of a single sentence is cut at a
  random token when B is to be the true continuation (BERT always gives it a random B, which
  made 55% of Austen's pairs random instead of random_next_prob).
  """
  max_tokens = max_seq_len - 3
  # Python ints: this loop runs once per sentence, and numpy scalars are slower.
  starts, documents = corpus.sentence_starts.tolist(), corpus.document_starts.tolist()
  num_documents = len(documents) - 1
  pairs = []
  for document in range(num_documents):
    first, last = documents[document], documents[document + 1]  # Sentence indices.
    target = max_tokens
    if rng.random() < short_seq_prob:
      target = int(rng.integers(2, max_tokens + 1))
    chunk_start, sentence = first, first
    while sentence < last:
      if starts[sentence + 1] - starts[chunk_start] < target and sentence + 1 < last:
        sentence += 1
        continue
      chunk_end = sentence + 1  # The chunk is sentences chunk_start:chunk_end.
      chunk = (starts[chunk_start], starts[chunk_end])
      random_next = int(rng.random() < random_next_prob or chunk[1] - chunk[0] < 2)
      if chunk_end - chunk_start >= 2:  # A ends at a random sentence boundary.
        a_end = int(rng.integers(chunk_start + 1, chunk_end))
        a, b = (chunk[0], starts[a_end]), (starts[a_end], chunk[1])
      else:  # A single sentence: a true B is its rest after a random token.
        a_end = chunk_end
        cut = int(rng.integers(chunk[0] + 1, chunk[1])) if not random_next else chunk[1]
        a, b = (chunk[0], cut), (cut, chunk[1])
      if random_next:
        b = _random_span(starts, documents, rng, document, target - (a[1] - a[0]))
        chunk_end = a_end  # The sentences of the true B start the next chunk.
      pairs.append((*_truncate(a, b, max_tokens, rng), random_next))
      chunk_start = sentence = chunk_end
  return np.array(pairs, np.int64).reshape(-1, 5)


def _random_span(starts: list[int], documents: list[int], rng, document: int,
                 target: int) -> tuple[int, int]:
  """Token range of consecutive sentences of another document, from a random sentence on,
  until `target` tokens are reached or the document ends."""
  num_documents = len(documents) - 1
  for _ in range(10):  # BERT's bounded retry: a one-document corpus falls back on itself.
    other = int(rng.integers(num_documents))
    if other != document:
      break
  first, last = documents[other], documents[other + 1]
  begin = int(rng.integers(first, last))
  end = begin + 1
  while end < last and starts[end] - starts[begin] < target:
    end += 1
  return starts[begin], starts[end]


def _truncate(a, b, max_tokens: int, rng) -> tuple[int, int, int, int]:
  """BERT's truncate_seq_pair in closed form: the longer segment (B on ties) loses one token at
  a time, from its front or back with equal odds, until the pair has max_tokens tokens."""
  length_a, length_b = a[1] - a[0], b[1] - b[0]
  excess = length_a + length_b - max_tokens
  if excess > 0:
    longer, shorter = max(length_a, length_b), min(length_a, length_b)
    if longer - excess >= shorter:
      new_a, new_b = ((length_a - excess, length_b) if length_a > length_b
                      else (length_a, length_b - excess))
    else:  # Both end up halved; B loses the odd token.
      new_a, new_b = (max_tokens + 1) // 2, max_tokens // 2
    front_a = rng.binomial(length_a - new_a, 0.5)
    front_b = rng.binomial(length_b - new_b, 0.5)
    a = (a[0] + front_a, a[0] + front_a + new_a)
    b = (b[0] + front_b, b[0] + front_b + new_b)
  return int(a[0]), int(a[1]), int(b[0]), int(b[1])


class _Tables:
  """Per-token lookups for masking, from the tokenizer."""

  def __init__(self, tokenizer):
    special = np.zeros(tokenizer.vocab_size, bool)
    special[list(tokenizer.special_ids())] = True
    self.special = special
    self.word_start = tokenizer.word_start_mask()
    self.replacements = np.flatnonzero(~special).astype(np.int32)
    self.pad_id, self.cls_id, self.sep_id = tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id
    self.mask_id = tokenizer.mask_id


def assemble(tokens: np.ndarray, pairs: np.ndarray, max_seq_len: int, tables: _Tables) -> dict:
  """[CLS] A [SEP] B [SEP] rows of `pairs` [n, 5]: input_ids, segment_ids int32 [n, L],
  input_mask bool [n, L], next_sentence_label int32 [n]."""
  a_start, a_end, b_start, b_end = (pairs[:, i:i + 1] for i in range(4))
  length_a, length_b = a_end - a_start, b_end - b_start
  position = np.arange(max_seq_len)[None]
  in_a = (position >= 1) & (position <= length_a)
  in_b = (position >= length_a + 2) & (position < length_a + 2 + length_b)
  source = np.where(in_a, a_start + position - 1, b_start + position - length_a - 2)
  input_ids = np.where(in_a | in_b, tokens[np.where(in_a | in_b, source, 0)], tables.pad_id)
  input_ids[:, 0] = tables.cls_id
  rows = np.arange(len(pairs))
  input_ids[rows, length_a[:, 0] + 1] = tables.sep_id
  input_ids[rows, (length_a + length_b)[:, 0] + 2] = tables.sep_id
  last = length_a + length_b + 2  # The final [SEP].
  return {
      'input_ids': input_ids.astype(np.int32),
      'segment_ids': ((position >= length_a + 2) & (position <= last)).astype(np.int32),
      'input_mask': position <= last,
      'next_sentence_label': pairs[:, 4].astype(np.int32),
  }


def mask_tokens(input_ids: np.ndarray, uniforms: np.ndarray, tables: _Tables, *,
                mask_prob: float, max_predictions: int, whole_word: bool) -> dict:
  """BERT's masked LM targets, vectorised over rows.

  Each row masks round(mask_prob * its non-special tokens) tokens (at most max_predictions) in
  random order of its words (whole_word) or tokens, skipping a word that would overshoot; of the
  chosen tokens 80% become [MASK], 10% a random non-special token, 10% stay.

  Args:
    input_ids: int32 [n, L], unmasked.
    uniforms: float [n, 3, L] in [0, 1): the row's word order, 80/10/10 choice, random token.
  Returns: input_ids (masked) int32 [n, L], masked_positions int32 [n, P], masked_ids (the
    original tokens) int32 [n, P], masked_weights float32 [n, P] (P = max_predictions; positions
    ascending, 0 on padding).
  """
  n, length = input_ids.shape
  eligible = ~tables.special[input_ids]
  budget = np.minimum(max_predictions, np.maximum(1, np.round(eligible.sum(1) * mask_prob)))
  budget = np.where(eligible.any(1), budget, 0)
  # A word is a word-start token and the continuation tokens after it (every token by itself
  # without whole_word); a token right after a special one starts a word too.
  previous_eligible = np.pad(eligible, ((0, 0), (1, 0)))[:, :-1]
  starts = eligible & (tables.word_start[input_ids] | ~previous_eligible | (not whole_word))
  word = np.cumsum(starts, axis=1) - 1  # Word index of each token (valid where eligible).
  word_length = np.zeros((n, length), np.int64)
  np.add.at(word_length, (np.nonzero(eligible)[0], word[eligible]), 1)
  order = np.argsort(np.where(word_length > 0, uniforms[:, 0], 2.0), axis=1)
  sorted_length = np.take_along_axis(word_length, order, axis=1)
  taken, total = np.zeros((n, length), bool), np.zeros(n, np.int64)
  for rank in range(length):  # Greedy, as BERT: a word that does not fit is skipped.
    fits = (sorted_length[:, rank] > 0) & (total + sorted_length[:, rank] <= budget)
    taken[:, rank] = fits
    total += np.where(fits, sorted_length[:, rank], 0)
    if (total >= budget).all() or not sorted_length[:, rank].any():
      break
  word_taken = np.zeros((n, length), bool)
  np.put_along_axis(word_taken, order, taken, axis=1)
  selected = eligible & np.take_along_axis(word_taken, np.maximum(word, 0), axis=1)

  choice = uniforms[:, 1]
  random_ids = tables.replacements[(uniforms[:, 2] * len(tables.replacements)).astype(np.int64)]
  masked = np.where(selected & (choice < 0.8), tables.mask_id, input_ids)
  masked = np.where(selected & (choice >= 0.8) & (choice < 0.9), random_ids, masked)
  positions = np.argsort(~selected, axis=1, kind='stable')[:, :max_predictions]
  weights = np.take_along_axis(selected, positions, axis=1)
  positions = np.where(weights, positions, 0)
  return {
      'input_ids': masked.astype(np.int32),
      'masked_positions': positions.astype(np.int32),
      'masked_ids': np.where(weights, np.take_along_axis(input_ids, positions, axis=1),
                             0).astype(np.int32),
      'masked_weights': weights.astype(np.float32),
  }


class _Pipeline:
  """Everything a batch is a function of: tokenized corpus, tables and masking options."""

  def __init__(self, input_config, split: str):
    self.tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
    self.corpus = tokenized_corpus(input_config, split, self.tokenizer)
    self.tables = _Tables(self.tokenizer)
    self.max_seq_len = input_config.get('max_seq_len', 128)
    self.pair_options = dict(max_seq_len=self.max_seq_len,
                             short_seq_prob=input_config.get('short_seq_prob', 0.1),
                             random_next_prob=input_config.get('random_next_prob', 0.5))
    self.mask_options = dict(mask_prob=input_config.get('mask_prob', 0.15),
                             max_predictions=input_config.get('max_predictions', 20),
                             whole_word=input_config.get('whole_word_mask', False))

  def pairs(self, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    rng = np.random.default_rng([seed, _PAIRS, epoch])
    pairs = create_pairs(self.corpus, rng, **self.pair_options)
    return pairs[rng.permutation(len(pairs))] if shuffle else pairs

  def batch(self, pairs: np.ndarray, indices: np.ndarray, seed: int) -> dict:
    """The masked batch of `pairs` [n, 5], whose positions in the stream are `indices` [n]."""
    batch = assemble(self.corpus.tokens, pairs, self.max_seq_len, self.tables)
    uniforms = np.stack([np.random.default_rng([seed, _MASKS, i]).random((3, self.max_seq_len))
                         for i in indices.tolist()])
    batch.update(mask_tokens(batch['input_ids'], uniforms, self.tables, **self.mask_options))
    return batch


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's rows of each global batch (L = max_seq_len, P = max_predictions):

    input_ids int32 [B, L]        [CLS] A [SEP] B [SEP], masked, then pad_id
    segment_ids int32 [B, L]      0 on [CLS] A [SEP] and padding, 1 on B [SEP]
    input_mask bool [B, L]        True on real tokens
    masked_positions int32 [B, P] ascending; masked_ids int32 [B, P] the original tokens there
    masked_weights float32 [B, P] 1 for a prediction, 0 for padding
    next_sentence_label int32 [B] 0: B follows A in the text, 1: B is from another document

  B = global_batch_size // process_count; a process gets rows [index * B, (index + 1) * B).
  train=True: endless (or `num_steps` batches) from `start_step`; epoch e's pairs are built and
    shuffled with (seed, e) (restarting in epoch e rebuilds epochs < e to count their pairs).
  train=False: one pass over the pairs of `split` in document order, built and masked with
    EVAL_SEED (the same batches in every run); rows past the end are padding, with a 'mask'
    bool [B] False on them, and all processes yield the same number of batches.
  """
  if global_batch_size % process_count:
    raise ValueError(f'batch size {global_batch_size} is not divisible by {process_count} '
                     'processes')
  local_batch = global_batch_size // process_count
  pipeline = _Pipeline(input_config, split)
  offsets = process_index * local_batch + np.arange(local_batch)
  if train:
    steps = itertools.count(start_step) if num_steps is None else range(
        start_step, start_step + num_steps)
    return _train_batches(pipeline, seed, steps, global_batch_size, offsets)
  return _eval_batches(pipeline, global_batch_size, offsets)


def _train_batches(pipeline: _Pipeline, seed: int, steps, global_batch_size: int,
                   offsets: np.ndarray):
  epoch_starts = [0]  # Stream index of the first pair of epoch 0, 1, ...
  epochs = {}  # Shuffled pairs of the epochs the current batch draws from.
  for step in steps:
    indices = step * global_batch_size + offsets
    while epoch_starts[-1] <= indices[-1]:
      epoch = len(epoch_starts) - 1
      epochs[epoch] = pipeline.pairs(seed, epoch, shuffle=True)
      epoch_starts.append(epoch_starts[-1] + len(epochs[epoch]))
    for finished in [e for e in epochs if epoch_starts[e + 1] <= indices[0]]:
      del epochs[finished]
    epoch_of = np.searchsorted(epoch_starts, indices, side='right') - 1
    pairs = np.concatenate([
        epochs[e][indices[epoch_of == e] - epoch_starts[e]] for e in np.unique(epoch_of)])
    yield pipeline.batch(pairs, indices, seed)


def _eval_batches(pipeline: _Pipeline, global_batch_size: int, offsets: np.ndarray):
  pairs = pipeline.pairs(EVAL_SEED, 0, shuffle=False)
  for step in range(math.ceil(len(pairs) / global_batch_size)):
    indices = step * global_batch_size + offsets
    real = indices < len(pairs)
    batch = pipeline.batch(pairs[np.where(real, indices, 0)], indices, EVAL_SEED)
    batch['input_ids'] = np.where(real[:, None], batch['input_ids'], pipeline.tables.pad_id)
    for key in ('segment_ids', 'input_mask', 'masked_positions', 'masked_ids',
                'masked_weights', 'next_sentence_label'):
      batch[key] = batch[key] * real.reshape(-1, *[1] * (batch[key].ndim - 1))
    batch['mask'] = real
    yield batch


def num_examples(input_config, split: str) -> int:
  """Pairs in one pass over `split` (exact for evaluation; training epochs differ by ~3%)."""
  return len(_Pipeline(input_config, split).pairs(EVAL_SEED, 0, shuffle=False))


def class_names(input_config) -> None:
  del input_config  # Pretraining has no classes.


def baselines(input_config, batch_size: int = 256) -> dict[str, float]:
  """What a model that ignores its input scores on eval_split's evaluation pass: MLM accuracy
  of always predicting the most frequent non-special token of train_split (the unigram
  baseline), and NSP accuracy of always predicting the more common label (chance: ~0.5)."""
  train = _Pipeline(input_config, input_config.train_split)
  counts = np.bincount(train.corpus.tokens, minlength=train.tokenizer.vocab_size)
  counts[list(train.tokenizer.special_ids())] = 0
  guess = counts.argmax()
  hits = total = 0.0
  nsp_counts = np.zeros(2)
  for batch in get_iterator(input_config, input_config.eval_split, train=False,
                            global_batch_size=batch_size, seed=EVAL_SEED):
    hits += ((batch['masked_ids'] == guess) * batch['masked_weights']).sum()
    total += batch['masked_weights'].sum()
    nsp_counts += np.bincount(batch['next_sentence_label'][batch['mask']], minlength=2)
  return {'mlm_most_frequent_token_accuracy': float(hits / total),
          'nsp_majority_accuracy': float(nsp_counts.max() / nsp_counts.sum())}
