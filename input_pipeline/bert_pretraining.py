"""BERT pretraining batches (input.kind='bert_pretraining'): masked LM and next-sentence pairs.

Numpy only. The corpus is read from prepared chunks (input_pipeline.text_preparation: consecutive
sentences of a document, tokenized once and stored for random access), so a process holds only
the chunks of its own rows, whatever the size of the corpus. Position p of the training stream
is chunk shuffle(p mod N) of epoch p // N (N chunks; a stateless permutation keyed by (seed,
epoch)); its pair is built with BERT's create_pretraining_data algorithm (bert_pairs.py) and
laid out (bert_inputs.py) and masked afresh by the batch ops of input.pp_train or pp_eval
(ops/text.py: mask_tokens), with random numbers that are functions of (seed, p)
(input_pipeline.stateless_random). So the batch
at step s is a pure function of (seed, s): a restart at any `start_step` computes its batch in
O(1), and the processes of a multi-host run each compute their own slice of the same batch.

input_config fields: dataset (a corpus name, e.g. 'austen'), prepared_dir (where
`python -m input_pipeline.prepare_text` wrote its chunks; empty: small corpora are prepared
into cache_dir on first use), train_split, eval_split, max_seq_len (128), max_predictions (20),
random_next_prob (0.5), short_seq_prob (0.1), tokenizer (see input_pipeline.tokenizers),
pp_train and pp_eval ('mask_tokens'), and for TFDS corpora data_dir and download.
"""
import importlib

import numpy as np

from input_pipeline import (bert_inputs, bert_pairs, config_schema, errors, pp, sampling,
                            stateless_random, text_chunks, text_preparation, tokenizers)

# Registers the text ops without importing the other domains' (TensorFlow's) ones.
importlib.import_module('input_pipeline.ops.text')
# Evaluation pairs and their masks use this seed whatever the run's seed, so every run of a
# corpus is evaluated on the same batches.
EVAL_SEED = 0
# The stream of random numbers pair building draws from (masking's: ops.BATCH_STREAMS; the order
# of epochs: sampling.py).
_PAIRS = 0


class Pipeline:
  """Everything a batch is a function of: prepared chunks, tables, pair options and the pp
  string's ops (input.pp_train when `train`, else pp_eval)."""

  def __init__(self, input_config, split: str, train: bool, seed: int):
    input_config = config_schema.completed(input_config, config_schema.INPUT)
    self.tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
    directory, metadata = text_preparation.prepared_directory(input_config, self.tokenizer)
    self.chunks = text_chunks.SplitReader(directory, split, metadata)
    self.tables = bert_inputs.Tables(self.tokenizer)
    self.max_seq_len = input_config.max_seq_len
    self.pair_options = dict(max_tokens=self.max_seq_len - 3,
                             short_seq_prob=input_config.short_seq_prob,
                             random_next_prob=input_config.random_next_prob)
    spec = input_config.pp_train if train else input_config.pp_eval
    preprocessing = pp.build(spec, input_config, seed)
    if preprocessing.example is not None:
      raise errors.UserInputError(f'pp {spec!r}: BERT pairs take batch ops only (ops/text.py), '
                                  f'not {pp.per_example(spec)}')
    self.ops, self.seed = preprocessing.batch, seed

  def batch(self, chunks: np.ndarray, positions: np.ndarray) -> dict:
    """The masked batch of the pairs of `chunks` [n], at `positions` [n] in the stream."""
    # Each chunk with the next, which a pair often reaches into; the rest come one by one.
    following = chunks[chunks + 1 < self.chunks.num_chunks] + 1
    cache = self.chunks.read(chunks.tolist() + following.tolist())

    def read(index: int) -> text_chunks.Chunk:
      if index not in cache:
        cache.update(self.chunks.read([index]))
      return cache[index]

    draws = stateless_random.batch_draws(stateless_random.row_keys(self.seed, _PAIRS, positions))
    pairs = [bert_pairs.create_pair(read, self.chunks.num_chunks, chunk, rng,
                                    **self.pair_options)
             for chunk, rng in zip(chunks.tolist(), draws)]
    segments = [segment for a, b, _ in pairs for segment in (a, b)]
    ends = np.cumsum([len(s) for s in segments]).reshape(-1, 2)
    starts = ends - [[len(a), len(b)] for a, b, _ in pairs]
    rows = np.stack([starts[:, 0], ends[:, 0], starts[:, 1], ends[:, 1],
                     [label for _, _, label in pairs]], axis=1)
    tokens = np.concatenate(segments).astype(np.int32)
    batch = self.ops({**bert_inputs.assemble(tokens, rows, self.max_seq_len, self.tables),
                      'position': positions})
    del batch['position']
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
  pipeline = Pipeline(input_config, split, train, seed if train else EVAL_SEED)
  shards = dict(global_batch_size=global_batch_size, process_index=process_index,
                process_count=process_count)
  if train:
    rows = sampling.train_rows(pipeline.chunks.num_chunks, seed, start_step=start_step,
                               num_steps=num_steps, **shards)
    return (pipeline.batch(r.indices, r.positions) for r in rows)
  return _eval_batches(pipeline, sampling.eval_rows(pipeline.chunks.num_chunks, **shards))


def _eval_batches(pipeline: Pipeline, rows):
  for row in rows:
    yield sampling.padded(pipeline.batch(row.indices, row.positions), row.mask,
                          {'input_ids': pipeline.tables.pad_id})


def num_examples(input_config, split: str) -> int:
  """Pairs in one pass over `split`: its number of chunks (from the prepared metadata)."""
  return Pipeline(input_config, split, False, EVAL_SEED).chunks.num_chunks


def class_names(input_config) -> None:
  del input_config  # Pretraining has no classes.
