"""Text classification batches (input.kind='text_classification'): single texts or text pairs.

Numpy only (TensorFlow only to read a TFDS dataset such as GLUE). A split is loaded and tokenized
once per process; the batch at step s is a pure function of (seed, s), so restarts are exact.

input_config fields: dataset ('austen_novels', 'tweets', 'glue/sst2', 'glue/mrpc', ...; see
labelled_datasets.labelled_texts), train_split, eval_split, max_seq_len, tokenizer (see
input_pipeline.tokenizers), num_train_examples (optional: a fixed random subset of
train_split of this size), min_confidence (tweets), data_dir and download (TFDS).
"""
import dataclasses
import itertools

import numpy as np

from input_pipeline import config_schema, labelled_datasets, sampling, tokenizers

_SUBSET_SEED = 0  # num_train_examples picks the same subset in every run.
_LOADED = {}  # Cache key -> (texts_a, texts_b, labels, class names).
_ENCODED = {}  # Cache key -> Encoded.


@dataclasses.dataclass(frozen=True)
class Encoded:
  """Example i is tokens[starts[i]:starts[i + 1]] = [CLS] a [SEP] (b [SEP]), whose first
  first_lengths[i] tokens have segment 0."""
  tokens: np.ndarray  # int32 [num_tokens]
  starts: np.ndarray  # int64 [num_examples + 1]
  first_lengths: np.ndarray  # int64 [num_examples]
  labels: np.ndarray  # int32 [num_examples]


def _dataset_key(input_config, split: str) -> tuple:
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  return (input_config.dataset, split, input_config.min_confidence,
          input_config.data_dir or None,
          input_config.num_train_examples if split == input_config.train_split else None)


def _labelled(input_config, split: str):
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  key = _dataset_key(input_config, split)
  if key not in _LOADED:
    texts_a, texts_b, labels, names = labelled_datasets.labelled_texts(
        input_config.dataset, split, min_confidence=input_config.min_confidence,
        data_dir=input_config.data_dir or None, download=input_config.download)
    keep = subset(len(labels), key[-1] or 0)
    if keep is not None:
      texts_a = [texts_a[i] for i in keep]
      texts_b = texts_b and [texts_b[i] for i in keep]
      labels = labels[keep]
    _LOADED[key] = texts_a, texts_b, labels, names
  return _LOADED[key]


def subset(num_examples: int, size: int) -> np.ndarray | None:
  """Sorted indices of the fixed random `size`-example subset (None: keep all)."""
  if not 0 < size < num_examples:
    return None
  return np.sort(np.random.default_rng(_SUBSET_SEED).choice(num_examples, size, replace=False))


def pair_lengths(length_a: np.ndarray, length_b: np.ndarray, budget: int):
  """Lengths after BERT's _truncate_seq_pair: the longer text (b on ties) loses its last token
  until the two fit in `budget` tokens."""
  excess = np.maximum(length_a + length_b - budget, 0)
  a_longer = length_a > length_b
  longer, shorter = np.maximum(length_a, length_b), np.minimum(length_a, length_b)
  one_sided = longer - excess >= shorter
  new_a = np.where(one_sided, np.where(a_longer, length_a - excess, length_a), (budget + 1) // 2)
  new_b = np.where(one_sided, np.where(a_longer, length_b, length_b - excess), budget // 2)
  return new_a, new_b


def encode(input_config, split: str, tokenizer) -> Encoded:
  """`split` tokenized as [CLS] a [SEP] or [CLS] a [SEP] b [SEP], cut to max_seq_len."""
  max_seq_len = input_config.max_seq_len
  key = (*_dataset_key(input_config, split), max_seq_len, tokenizer.fingerprint)
  if key not in _ENCODED:
    texts_a, texts_b, labels, _ = _labelled(input_config, split)
    ids_a = tokenizer.encode_batch(texts_a)
    lengths_a = np.array([len(ids) for ids in ids_a])
    if texts_b is None:
      ids_b, lengths_b = [[]] * len(ids_a), np.zeros_like(lengths_a)
      lengths_a = np.minimum(lengths_a, max_seq_len - 2)
    else:
      ids_b = tokenizer.encode_batch(texts_b)
      lengths_a, lengths_b = pair_lengths(lengths_a, np.array([len(ids) for ids in ids_b]),
                                          max_seq_len - 3)
    cls, sep = [tokenizer.cls_id], [tokenizer.sep_id]
    sequences = [cls + a[:la] + sep + (b[:lb] + sep if lb else [])
                 for a, b, la, lb in zip(ids_a, ids_b, lengths_a.tolist(), lengths_b.tolist())]
    sizes = [len(s) for s in sequences]
    _ENCODED[key] = Encoded(
        tokens=np.fromiter(itertools.chain.from_iterable(sequences), np.int32, sum(sizes)),
        starts=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        first_lengths=lengths_a + 2,
        labels=np.asarray(labels, np.int32))
  return _ENCODED[key]


def _batch(encoded: Encoded, indices: np.ndarray, max_seq_len: int, pad_id: int) -> dict:
  """input_ids, segment_ids int32 [n, L], input_mask bool [n, L], label int32 [n]."""
  start = encoded.starts[indices][:, None]
  length = encoded.starts[indices + 1][:, None] - start
  position = np.arange(max_seq_len)[None]
  input_mask = position < length
  source = np.where(input_mask, start + position, 0)
  return {
      'input_ids': np.where(input_mask, encoded.tokens[source], pad_id).astype(np.int32),
      'segment_ids': (input_mask & (position >= encoded.first_lengths[indices][:, None])
                      ).astype(np.int32),
      'input_mask': input_mask,
      'label': encoded.labels[indices],
  }


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's rows of each global batch (B = global_batch_size // process_count,
  rows [process_index * B, (process_index + 1) * B), L = max_seq_len):
  input_ids int32 [B, L] (pad_id after the text), segment_ids int32 [B, L] (1 on b [SEP]),
  input_mask bool [B, L], label int32 [B].

  train=True: endless (or `num_steps` batches) from `start_step`; epoch e is a permutation
    seeded by (seed, e), and an epoch's last batch runs on into the next epoch.
  train=False: one ordered pass; rows past the end are padding, with a 'mask' bool [B] False on
    them, and all processes yield the same number of batches.
  """
  tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
  encoded = encode(input_config, split, tokenizer)
  rows = sampling.rows(len(encoded.labels), train=train, seed=seed, start_step=start_step,
                       num_steps=num_steps, global_batch_size=global_batch_size,
                       process_index=process_index, process_count=process_count)
  return (_padded_batch(encoded, r, input_config.max_seq_len, tokenizer.pad_id, train)
          for r in rows)


def _padded_batch(encoded: Encoded, rows: sampling.Rows, max_seq_len: int, pad_id: int,
                  train: bool) -> dict:
  batch = _batch(encoded, rows.indices, max_seq_len, pad_id)
  if train:
    return batch
  return sampling.padded(batch, rows.mask, {'input_ids': pad_id})


def num_examples(input_config, split: str) -> int:
  return len(_labelled(input_config, split)[2])


def class_names(input_config) -> list[str]:
  return list(_labelled(input_config, input_config.train_split)[3])
