"""Translation batches (input.kind='translation'): a source sentence and its target, for an
encoder-decoder trained with teacher forcing.

Numpy only (TensorFlow only to read a TFDS dataset such as WMT). A split's pairs are read
(parallel_corpora.py) and tokenized once per process, with one vocabulary for both languages: a
sentencepiece model trained on both sides of the training pairs (tokenizer.train_corpus = the
dataset's name; text_corpora reads a pair as a document of its two sentences). Rows are chosen by
index (sampling.py): the batch at step s is a pure function of (seed, s), so restarts are exact.

Row layout, with BOS and EOS the tokenizer's start and end ids ([CLS], [SEP]):
  source_ids   its tokens, EOS
  target_ids   BOS, its tokens, EOS
Under teacher forcing the decoder reads target_ids[:, :-1] and predicts target_ids[:, 1:], the
predictions that count being target_mask[:, 1:].

Pairs too long for max_source_len / max_target_len: the training split (train_split) leaves them
out, and the pairs with an empty side, since a cut target is no translation of its source; every
other split keeps all its pairs, so that BLEU is over the whole set, and cuts the long ones to
the maximum lengths (their EOS is cut off). Both counts are logged; `references` gives the
uncut target texts.

input_config fields: dataset ('ding_de_en', or a TFDS translation dataset such as
'wmt14_translate/de-en'; see parallel_corpora.py), source_language and target_language (e.g.
'de', 'en'), train_split, eval_split, max_source_len, max_target_len, tokenizer (see
input_pipeline.tokenizers), data_dir and download (TFDS). WMT14's 4.5M training pairs take
minutes to tokenize and ~1 GB as int32.
"""
import dataclasses
import itertools

from absl import logging
import numpy as np

from input_pipeline import config_schema, errors, parallel_corpora, sampling, tokenizers

_BLOCK = 1 << 16  # Pairs tokenized at a time: Python lists of ids stay small whatever the split.
_ENCODED = {}  # Cache key -> Encoded.


@dataclasses.dataclass(frozen=True)
class Encoded:
  """The rows of a split, laid out and cut: row i's source is
  source_tokens[source_starts[i]:source_starts[i + 1]], its target likewise."""
  source_tokens: np.ndarray  # int32 [source tokens]
  source_starts: np.ndarray  # int64 [rows + 1]
  target_tokens: np.ndarray  # int32 [target tokens]
  target_starts: np.ndarray  # int64 [rows + 1]
  dropped: int  # The training split's pairs left out: too long, or a side empty.
  truncated: int  # Another split's pairs cut to the maximum lengths.

  @property
  def num_rows(self) -> int:
    return len(self.source_starts) - 1


def _completed(input_config):
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  if input_config.max_source_len < 2 or input_config.max_target_len < 3:
    raise errors.UserInputError(
        f'input.max_source_len={input_config.max_source_len}, input.max_target_len='
        f'{input_config.max_target_len}: a source needs at least 2 tokens (one, then EOS) and a '
        f'target 3 (BOS, one, EOS)')
  return input_config


def sentence_pairs(input_config, split: str) -> tuple[list[str], list[str]]:
  """(source texts, target texts) of `split`, in order: the eval rows are these pairs."""
  input_config = _completed(input_config)
  sources, targets = parallel_corpora.sentence_pairs(
      input_config.dataset, split, input_config.source_language, input_config.target_language,
      data_dir=input_config.data_dir or None, download=input_config.download)
  if not sources:
    raise errors.UserInputError(f'split {split!r} of {input_config.dataset!r} has no sentence '
                                'pairs')
  return sources, targets


def references(input_config, split: str) -> list[str]:
  """The target texts of `split`, uncut and in row order (an eval pass's unpadded rows): the
  references that BLEU scores translations of the sources against."""
  return sentence_pairs(input_config, split)[1]


def _laid_out(tokenizer, sources: list[str], targets: list[str], input_config, drop: bool):
  """(source sequences, target sequences, pairs dropped or cut) of one block of pairs."""
  bos, eos = tokenizer.cls_id, tokenizer.sep_id
  source_ids = [[*ids, eos] for ids in tokenizer.encode_batch(sources)]
  target_ids = [[bos, *ids, eos] for ids in tokenizer.encode_batch(targets)]
  max_source, max_target = input_config.max_source_len, input_config.max_target_len
  if drop:
    keep = [1 < len(s) <= max_source and 2 < len(t) <= max_target
            for s, t in zip(source_ids, target_ids)]
    return (list(itertools.compress(source_ids, keep)), list(itertools.compress(target_ids, keep)),
            keep.count(False))
  cut = sum(len(s) > max_source or len(t) > max_target for s, t in zip(source_ids, target_ids))
  return [s[:max_source] for s in source_ids], [t[:max_target] for t in target_ids], cut


def _flat(blocks: list[list[list[int]]]) -> tuple[np.ndarray, np.ndarray]:
  """(tokens int32 [total], starts int64 [sequences + 1]) of the blocks' sequences in order."""
  sequences = [s for block in blocks for s in block]
  sizes = [len(s) for s in sequences]
  tokens = np.fromiter(itertools.chain.from_iterable(sequences), np.int32, sum(sizes))
  return tokens, np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


def encode(input_config, split: str, tokenizer) -> Encoded:
  """`split` tokenized and laid out (module docstring), once per process."""
  input_config = _completed(input_config)
  drop = split == input_config.train_split
  key = (input_config.dataset, split, input_config.source_language,
         input_config.target_language, input_config.data_dir or None, input_config.max_source_len,
         input_config.max_target_len, drop, tokenizer.fingerprint)
  if key not in _ENCODED:
    sources, targets = sentence_pairs(input_config, split)
    source_blocks, target_blocks, skipped = [], [], 0
    for begin in range(0, len(sources), _BLOCK):
      block = slice(begin, begin + _BLOCK)
      s, t, n = _laid_out(tokenizer, sources[block], targets[block], input_config, drop)
      source_blocks.append(s)
      target_blocks.append(t)
      skipped += n
    if drop and skipped == len(sources):
      raise errors.UserInputError(
          f'all {len(sources)} pairs of split {split!r} of {input_config.dataset!r} are longer '
          f'than input.max_source_len={input_config.max_source_len} / max_target_len='
          f'{input_config.max_target_len} tokens (or have an empty side): raise them')
    logging.info('translation %s %s: %d pairs, %d %s', input_config.dataset, split, len(sources),
                 skipped, 'left out (too long or a side empty)' if drop else 'cut to fit')
    _ENCODED[key] = Encoded(*_flat(source_blocks), *_flat(target_blocks),
                            dropped=skipped if drop else 0, truncated=0 if drop else skipped)
  return _ENCODED[key]


def _padded_rows(tokens: np.ndarray, starts: np.ndarray, indices: np.ndarray, length: int,
                 pad_id: int) -> tuple[np.ndarray, np.ndarray]:
  """(ids int32 [n, length] with pad_id after each row's tokens, mask bool [n, length])."""
  start = starts[indices][:, None]
  position = np.arange(length)[None]
  mask = position < starts[indices + 1][:, None] - start
  return np.where(mask, tokens[np.where(mask, start + position, 0)], pad_id), mask


def _batch(encoded: Encoded, indices: np.ndarray, input_config, pad_id: int) -> dict:
  source_ids, source_mask = _padded_rows(encoded.source_tokens, encoded.source_starts, indices,
                                         input_config.max_source_len, pad_id)
  target_ids, target_mask = _padded_rows(encoded.target_tokens, encoded.target_starts, indices,
                                         input_config.max_target_len, pad_id)
  return {'source_ids': source_ids.astype(np.int32), 'source_mask': source_mask,
          'target_ids': target_ids.astype(np.int32), 'target_mask': target_mask}


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's rows of each global batch (B = global_batch_size // process_count,
  rows [process_index * B, (process_index + 1) * B), S = max_source_len, T = max_target_len):
  source_ids int32 [B, S] and target_ids int32 [B, T] (laid out as the module docstring says,
  pad_id after), source_mask bool [B, S] and target_mask bool [B, T] (True on their tokens).

  train=True: endless (or `num_steps` batches) from `start_step`; epoch e is a permutation
    seeded by (seed, e), and an epoch's last batch runs on into the next epoch.
  train=False: one pass over the pairs in order; rows past the end are padding, with a 'mask'
    bool [B] False on them, and all processes yield the same number of batches.
  """
  input_config = _completed(input_config)
  tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
  encoded = encode(input_config, split, tokenizer)
  pad_id = tokenizer.pad_id
  return sampling.batches(
      encoded.num_rows, lambda rows: _batch(encoded, rows, input_config, pad_id), train=train,
      pad_ids={'source_ids': pad_id, 'target_ids': pad_id}, seed=seed, start_step=start_step,
      num_steps=num_steps, global_batch_size=global_batch_size, process_index=process_index,
      process_count=process_count)


def num_examples(input_config, split: str) -> int:
  """Rows of `split`: its pairs, less those the training split leaves out."""
  input_config = _completed(input_config)
  return encode(input_config, split, tokenizers.build_tokenizer(input_config.tokenizer)).num_rows


def class_names(input_config) -> None:
  del input_config  # Translation has no classes.
