"""Language-model batches (input.kind='token_windows'): windows of consecutive tokens of a corpus.

Numpy only. The corpus is read from the chunks text_preparation prepares (those bert_pretraining
reads: consecutive sentences of a document, tokenized once, read by index). Each document's
tokens, in order, are cut into windows of L = max_seq_len tokens that overlap by one: window k
of a document holds its tokens [k (L - 1), k (L - 1) + L), the last one shorter (padded). The
first token of a window is context only, so every token of a document but its first is
predicted exactly once per pass, each with the whole window before it as context.

Example w (window w of the split, in document order) is located by arithmetic on per-document
tables built once per process from the chunks' token counts (one read of the split's chunks:
milliseconds for Austen, minutes for a Wikipedia-sized corpus); a batch then reads only the
chunks of its own windows. Training rows are chosen by index (sampling.py), so the batch at
step s is a pure function of (seed, s) and a restart at any `start_step` is exact.

input_config fields: dataset (a corpus name, e.g. 'austen', or 'text_files:<glob>'),
prepared_dir and cache_dir (as bert_pretraining's), train_split, eval_split, max_seq_len,
tokenizer (see input_pipeline.tokenizers), and for TFDS corpora data_dir and download.
"""
import dataclasses

import numpy as np

from input_pipeline import config_schema, errors, sampling, text_chunks, text_preparation
from input_pipeline import tokenizers

_SCAN_CHUNKS = 4096  # Chunks read at a time while counting tokens (bounded memory).
_LAYOUTS = {}  # (prepared directory, split, max_seq_len) -> Layout.


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where the windows of one split lie in its token stream (its chunks' tokens in order)."""
  chunk_starts: np.ndarray  # int64 [chunks + 1]: chunk c is tokens [c_s[c], c_s[c + 1]).
  document_starts: np.ndarray  # int64 [documents]: each document's first token...
  document_ends: np.ndarray  # int64 [documents]: ... and the token after its last.
  first_window: np.ndarray  # int64 [documents + 1]: the windows of document d are
  #                           first_window[d] .. first_window[d + 1] - 1.
  max_seq_len: int

  @property
  def num_windows(self) -> int:
    return int(self.first_window[-1])

  def bounds(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) int64 [n] in the token stream of `windows` int [n]."""
    document = np.searchsorted(self.first_window, windows, side='right') - 1
    start = (self.document_starts[document]
             + (windows - self.first_window[document]) * (self.max_seq_len - 1))
    return start, np.minimum(start + self.max_seq_len, self.document_ends[document])


def layout(chunks: text_chunks.SplitReader, max_seq_len: int) -> Layout:
  """The windows of a split, from its chunks' token counts and documents."""
  if max_seq_len < 2:
    raise errors.UserInputError(f'input.max_seq_len={max_seq_len}: a window needs at least 2 '
                                'tokens (one to predict from, one to predict)')
  lengths = np.zeros(chunks.num_chunks, np.int64)
  documents = np.zeros(chunks.num_chunks, np.int64)
  for begin in range(0, chunks.num_chunks, _SCAN_CHUNKS):
    for index, chunk in chunks.read(range(begin, min(begin + _SCAN_CHUNKS,
                                                     chunks.num_chunks))).items():
      lengths[index], documents[index] = len(chunk.tokens), chunk.document
  chunk_starts = np.concatenate([[0], np.cumsum(lengths)])
  first_chunks = np.flatnonzero(np.diff(documents, prepend=-1))  # A document's chunks are in a row.
  document_starts = chunk_starts[first_chunks]
  document_ends = chunk_starts[np.append(first_chunks[1:], chunks.num_chunks)]
  # ceil((n - 1) / (L - 1)) windows predict the n - 1 tokens after a document's first.
  windows = -(-np.maximum(document_ends - document_starts - 1, 0) // (max_seq_len - 1))
  return Layout(chunk_starts, document_starts, document_ends,
                np.concatenate([[0], np.cumsum(windows)]), max_seq_len)


class Pipeline:
  """The prepared chunks of one split, their layout and the padding id."""

  def __init__(self, input_config, split: str):
    input_config = config_schema.completed(input_config, config_schema.INPUT)
    tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
    directory, metadata = text_preparation.prepared_directory(input_config, tokenizer)
    self.chunks = text_chunks.SplitReader(directory, split, metadata)
    key = (directory, split, input_config.max_seq_len)
    if key not in _LAYOUTS:
      _LAYOUTS[key] = layout(self.chunks, input_config.max_seq_len)
    self.layout, self.pad_id = _LAYOUTS[key], tokenizer.pad_id
    if not self.layout.num_windows:
      raise errors.UserInputError(f'split {split!r} of {input_config.dataset!r} has no document '
                                  'of two tokens or more: nothing to predict')

  def batch(self, windows: np.ndarray) -> dict:
    """input_ids int32 [n, L] (pad_id after the window's tokens), input_mask bool [n, L]."""
    start, end = self.layout.bounds(windows)
    chunk_starts = self.layout.chunk_starts
    first = np.searchsorted(chunk_starts, start, side='right') - 1
    last = np.searchsorted(chunk_starts, end - 1, side='right') - 1
    cache = self.chunks.read([c for f, l in zip(first.tolist(), last.tolist())
                              for c in range(f, l + 1)])
    max_seq_len = self.layout.max_seq_len
    input_ids = np.full((len(windows), max_seq_len), self.pad_id, np.int32)
    for row, (s, e, f, l) in enumerate(zip(start.tolist(), end.tolist(), first.tolist(),
                                           last.tolist())):
      tokens = np.concatenate([cache[c].tokens for c in range(f, l + 1)])
      offset = s - int(chunk_starts[f])
      input_ids[row, :e - s] = tokens[offset:offset + e - s]
    return {'input_ids': input_ids,
            'input_mask': np.arange(max_seq_len) < (end - start)[:, None]}


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's rows of each global batch (B = global_batch_size // process_count,
  rows [process_index * B, (process_index + 1) * B), L = max_seq_len):
  input_ids int32 [B, L] (pad_id after the window), input_mask bool [B, L] (True on its tokens).

  train=True: endless (or `num_steps` batches) from `start_step`; epoch e is a permutation of
    the windows seeded by (seed, e), and an epoch's last batch runs on into the next epoch.
  train=False: one pass over the windows in document order; rows past the end are padding, with
    a 'mask' bool [B] False on them, and all processes yield the same number of batches.
  """
  pipeline = Pipeline(input_config, split)
  return sampling.batches(
      pipeline.layout.num_windows, pipeline.batch, train=train,
      pad_ids={'input_ids': pipeline.pad_id}, seed=seed, start_step=start_step,
      num_steps=num_steps, global_batch_size=global_batch_size, process_index=process_index,
      process_count=process_count)


def num_examples(input_config, split: str) -> int:
  """Windows in one pass over `split`."""
  return Pipeline(input_config, split).layout.num_windows


def class_names(input_config) -> None:
  del input_config  # A language model has no classes.
