"""BERT pretraining batches (input.kind='bert_pretraining'): masked LM and next-sentence pairs.

Numpy only. The corpus is read from prepared chunks (input_pipeline.prepare_text: consecutive
sentences of a document, tokenized once and stored for random access), so a process holds only
the chunks of its own rows, whatever the size of the corpus. Position p of the training stream
is chunk shuffle(p mod N) of epoch p // N (N chunks; a stateless permutation keyed by (seed,
epoch)); its pair is built with BERT's create_pretraining_data algorithm and masked afresh, with
random numbers that are functions of (seed, p) (input_pipeline.stateless_random). So the batch
at step s is a pure function of (seed, s): a restart at any `start_step` computes its batch in
O(1), and the processes of a multi-host run each compute their own slice of the same batch.

input_config fields: dataset (a corpus name, e.g. 'austen'), prepared_dir (where
`python -m input_pipeline.prepare_text` wrote its chunks; empty: small corpora are prepared
into cache_dir on first use), train_split, eval_split, max_seq_len (128), max_predictions (20),
mask_prob (0.15), random_next_prob (0.5), whole_word_mask (False), short_seq_prob (0.1),
tokenizer (see input_pipeline.tokenizers), and for TFDS corpora data_dir and download.
"""

import numpy as np

from input_pipeline import (config_schema, prepare_text, sampling, stateless_random, text_chunks,
                            tokenizers)

# Evaluation pairs and their masks use this seed whatever the run's seed, so every run of a
# corpus is evaluated on the same batches.
EVAL_SEED = 0
# Streams of random numbers: pair building, masking (the order of epochs: sampling.py).
_PAIRS, _MASKS = 0, 1


def create_pair(read, num_chunks: int, index: int, rng: stateless_random.Draws, *,
                max_tokens: int, short_seq_prob: float,
                random_next_prob: float) -> tuple[np.ndarray, np.ndarray, int]:
  """(A tokens, B tokens, is_random_next) of the pair built from chunk `index`; `read(i)` gives
  chunk i (a text_chunks.Chunk) of the split's `num_chunks`, `rng` the row's random numbers.

  BERT's create_instances_from_document, one chunk at a time: from a random sentence of the
  chunk, gather sentences (on into the document's next chunk) up to a target length (max_tokens,
  or with probability short_seq_prob a random shorter one), and at least two, and cut them into
  A and B at a random sentence boundary; with probability random_next_prob B is instead
  sentences of another document, gathered up to the target as a true B is. Then the longer
  segment loses tokens at a random end until the pair fits. So A and B are whole sentences
  before truncation whatever the label: where they start and end does not give a true B away.
  Unlike BERT, a sentence that reaches the target alone takes the next one along as its true B
  (BERT always gives it a random B, which made 55% of Austen's pairs random), and a pair starts
  before the last sentence of its document where it can, so that half the pairs are random.
  """
  target = max_tokens
  if rng.random() < short_seq_prob:
    target = rng.integers(2, max_tokens + 1)
  tokens, starts = _sentences(read, num_chunks, index, rng, target, at_least=2)
  random_next = rng.random() < random_next_prob or len(starts) < 3
  cut = starts[rng.integers(1, len(starts) - 1)] if len(starts) > 2 else starts[-1]
  a, b = tokens[:cut], tokens[cut:]
  if random_next:
    # A true B is the sentence after A's on; a random one starts after a random sentence too:
    # a random sentence of a random chunk itself is more often a long one (in a chunk of few).
    other = _other_chunk(read, num_chunks, index, rng)
    b = _sentences(read, num_chunks, other, rng, target - cut, skip=1)[0]
  a_start, a_end, b_start, b_end = _truncate((0, len(a)), (0, len(b)), max_tokens, rng)
  return a[a_start:a_end], b[b_start:b_end], int(random_next)


def _sentences(read, num_chunks: int, index: int, rng, target: int, at_least: int = 1,
               skip: int = 0) -> tuple[np.ndarray, list[int]]:
  """(tokens, sentence starts) of consecutive sentences of chunk `index`'s document: from a
  random sentence of the chunk, `skip` (0 or 1) sentences on, until they hold `target` tokens
  and `at_least` (1 or 2) sentences, or the document ends (in a document's last chunk, the
  start leaves `skip + at_least` sentences where the chunk has them). A chunk has at least
  max_tokens >= target tokens unless it ends its document, so the next chunk is the most ever
  needed."""
  chunk = read(index)
  following = read(index + 1) if index + 1 < num_chunks else None
  sentences = len(chunk.starts) - 1
  if following is None or following.document != chunk.document:
    following = None
    sentences = max(1, sentences + 1 - skip - at_least)
  tokens, starts = chunk.tokens, chunk.starts[rng.integers(sentences):]
  short = (len(starts) - 1 < skip + at_least
           or starts[-1] - starts[min(skip, len(starts) - 1)] < target)
  if short and following is not None:
    tokens = np.concatenate([tokens, following.tokens])
    starts = starts + [starts[-1] + s for s in following.starts[1:]]
  first = min(skip, len(starts) - 2)
  end = first + 1
  while end < len(starts) - 1 and (starts[end] - starts[first] < target
                                   or end - first < at_least):
    end += 1
  return (tokens[starts[first]:starts[end]],
          [s - starts[first] for s in starts[first:end + 1]])


def _other_chunk(read, num_chunks: int, index: int, rng) -> int:
  """A random chunk of another document (BERT's bounded retry: a one-document corpus falls back
  on its own)."""
  document = read(index).document
  for _ in range(10):
    other = rng.integers(num_chunks)
    if read(other).document != document:
      break
  return other


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
    front_a = rng.heads(length_a - new_a)
    front_b = rng.heads(length_b - new_b)
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
  """Everything a batch is a function of: prepared chunks, tables and pair and mask options."""

  def __init__(self, input_config, split: str):
    input_config = config_schema.completed(input_config, config_schema.INPUT)
    self.tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
    directory, metadata = prepare_text.prepared_directory(input_config, self.tokenizer)
    self.chunks = text_chunks.SplitReader(directory, split, metadata)
    self.tables = _Tables(self.tokenizer)
    self.max_seq_len = input_config.max_seq_len
    self.pair_options = dict(max_tokens=self.max_seq_len - 3,
                             short_seq_prob=input_config.short_seq_prob,
                             random_next_prob=input_config.random_next_prob)
    self.mask_options = dict(mask_prob=input_config.mask_prob,
                             max_predictions=input_config.max_predictions,
                             whole_word=input_config.whole_word_mask)

  def batch(self, chunks: np.ndarray, positions: np.ndarray, seed: int) -> dict:
    """The masked batch of the pairs of `chunks` [n], at `positions` [n] in the stream."""
    # Each chunk with the next, which a pair often reaches into; the rest come one by one.
    following = chunks[chunks + 1 < self.chunks.num_chunks] + 1
    cache = self.chunks.read(chunks.tolist() + following.tolist())

    def read(index: int) -> text_chunks.Chunk:
      if index not in cache:
        cache.update(self.chunks.read([index]))
      return cache[index]

    draws = stateless_random.batch_draws(stateless_random.row_keys(seed, _PAIRS, positions))
    pairs = [create_pair(read, self.chunks.num_chunks, chunk, rng, **self.pair_options)
             for chunk, rng in zip(chunks.tolist(), draws)]
    segments = [segment for a, b, _ in pairs for segment in (a, b)]
    ends = np.cumsum([len(s) for s in segments]).reshape(-1, 2)
    starts = ends - [[len(a), len(b)] for a, b, _ in pairs]
    rows = np.stack([starts[:, 0], ends[:, 0], starts[:, 1], ends[:, 1],
                     [label for _, _, label in pairs]], axis=1)
    tokens = np.concatenate(segments).astype(np.int32)
    batch = assemble(tokens, rows, self.max_seq_len, self.tables)
    uniforms = stateless_random.uniforms(stateless_random.row_keys(seed, _MASKS, positions),
                                         3 * self.max_seq_len).reshape(-1, 3, self.max_seq_len)
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

  B = global_batch_size // process_count; a process gets rows [index * B, (index + 1) * B),
  and reads only the chunks of those rows.
  train=True: endless (or `num_steps` batches) from `start_step`; each epoch is one pair per
    chunk, in an order keyed by (seed, epoch).
  train=False: one pass over the chunks of `split` in document order, paired and masked with
    EVAL_SEED (the same batches in every run); rows past the end are padding, with a 'mask'
    bool [B] False on them, and all processes yield the same number of batches.
  """
  pipeline = _Pipeline(input_config, split)
  shards = dict(global_batch_size=global_batch_size, process_index=process_index,
                process_count=process_count)
  if train:
    rows = sampling.train_rows(pipeline.chunks.num_chunks, seed, start_step=start_step,
                               num_steps=num_steps, **shards)
    return (pipeline.batch(r.indices, r.positions, seed) for r in rows)
  return _eval_batches(pipeline, sampling.eval_rows(pipeline.chunks.num_chunks, **shards))


def _eval_batches(pipeline: _Pipeline, rows):
  for row in rows:
    yield sampling.padded(pipeline.batch(row.indices, row.positions, EVAL_SEED), row.mask,
                          {'input_ids': pipeline.tables.pad_id})


def num_examples(input_config, split: str) -> int:
  """Pairs in one pass over `split`: its number of chunks (from the prepared metadata)."""
  return _Pipeline(input_config, split).chunks.num_chunks


def class_names(input_config) -> None:
  del input_config  # Pretraining has no classes.


def baselines(input_config, batch_size: int = 256) -> dict[str, float]:
  """What a model that ignores its input scores on eval_split's evaluation pass: MLM accuracy
  of always predicting the most frequent non-special token of train_split (the unigram
  baseline), and NSP accuracy of always predicting the more common label (chance: ~0.5)."""
  train = _Pipeline(input_config, input_config.train_split)
  counts = np.load(train.chunks.token_counts_path, allow_pickle=False)
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
