"""Tokenized text stored for random access: the records that input_pipeline.text_preparation writes
and bert_pretraining reads.

A prepared directory holds `metadata.json` and, per split, ArrayRecord files
`<split>-<i>.array_record` of *chunks*: consecutive sentences of one document, gathered until
they reach max_seq_len - 3 tokens (BERT's target length) or the document ends. A record is

    document int64, sentences uint32, tokens uint32 (little-endian header), then the end of each
    sentence uint32 [sentences] and the token ids (uint16, or int32 for vocabularies > 65,536)

so chunk i of a split is read by its index, without reading the others: a process holds only the
chunks of its own rows of each batch, whatever the size of the corpus.
"""
import bisect
import dataclasses
import json
import os
import struct

import numpy as np
from array_record.python import array_record_module

from input_pipeline import errors

FORMAT = 'big_uni.text_chunks'
VERSION = 1
METADATA = 'metadata.json'
_HEADER = struct.Struct('<qII')
# 64 records a group: the reader's index takes ~0.7 byte a chunk (1 GB of text: ~1.5 MB) where
# one record a group takes ~30 bytes in every process. Uncompressed: a read of one chunk parses
# its group in 10 us, 9x faster than with zstd, for files 1.8x larger.
_WRITER_OPTIONS = 'group_size:64,uncompressed'
# Random access: no read-ahead, and no threads (they cost more than a small record's read).
_READER_OPTIONS = 'readahead_buffer_size:0,max_parallelism:1'
CHUNKS_PER_FILE = 1 << 18  # ~100 MB files at 128 tokens.


class PreparedTextError(errors.UserInputError):
  """Prepared text that is missing, corrupt, or prepared for another config."""


@dataclasses.dataclass(frozen=True)
class Chunk:
  """Consecutive sentences of one document: sentence j is tokens[starts[j]:starts[j + 1]]."""
  document: int
  tokens: np.ndarray  # uint16 or int32 [num_tokens]
  starts: list[int]  # [num_sentences + 1], from 0 to num_tokens


def token_dtype(vocab_size: int) -> str:
  return 'uint16' if vocab_size <= 1 << 16 else 'int32'


def chunk_document(sentences: list[list[int]], max_tokens: int) -> list[list[list[int]]]:
  """A document's tokenized sentences grouped into chunks of at least `max_tokens` tokens (the
  last may be shorter), as BERT's create_instances_from_document gathers them. A sentence longer
  than max_tokens is cut into pieces of max_tokens first, so a chunk holds < 2 * max_tokens."""
  chunks, current, length = [], [], 0
  for sentence in sentences:
    for begin in range(0, len(sentence), max_tokens):
      current.append(sentence[begin:begin + max_tokens])
      length += len(current[-1])
      if length >= max_tokens:
        chunks.append(current)
        current, length = [], 0
  if current:
    chunks.append(current)
  return chunks


def encode(document: int, sentences: list[list[int]], dtype: str) -> bytes:
  """One chunk's record."""
  ends = np.cumsum([len(s) for s in sentences], dtype=np.uint32)
  tokens = np.fromiter((t for s in sentences for t in s), dtype, int(ends[-1]))
  return _HEADER.pack(document, len(ends), int(ends[-1])) + ends.tobytes() + tokens.tobytes()


def decode(record: bytes, dtype: str, where: str) -> Chunk:
  """The Chunk of a record; `where` names it in the error if the record is corrupt."""
  itemsize = np.dtype(dtype).itemsize
  if len(record) >= _HEADER.size:
    document, num_sentences, num_tokens = _HEADER.unpack_from(record)
    if len(record) == _HEADER.size + 4 * num_sentences + itemsize * num_tokens:
      ends = np.frombuffer(record, '<u4', num_sentences, _HEADER.size)
      tokens = np.frombuffer(record, dtype, num_tokens, _HEADER.size + 4 * num_sentences)
      return Chunk(document, tokens, [0, *ends.tolist()])
  raise PreparedTextError(f'{where} is corrupt ({len(record)} bytes that are not a chunk): '
                          f'prepare the text again (python -m input_pipeline.prepare_text)')


class SplitWriter:
  """Writes one split's chunks to `<directory>/<split>-<i>.array_record`, CHUNKS_PER_FILE a file,
  and counts what it wrote (`summary`)."""

  def __init__(self, directory: str, split: str, vocab_size: int,
               chunks_per_file: int = CHUNKS_PER_FILE):
    self.directory, self.split, self.chunks_per_file = directory, split, chunks_per_file
    self.dtype = token_dtype(vocab_size)
    self.files, self.chunks_per_file_written = [], []
    self.documents = self.sentences = self.tokens = 0
    self.token_counts = np.zeros(vocab_size, np.int64)
    self._writer, self._uncounted, self._last_document = None, [], None

  def write(self, document: int, records: list[bytes]) -> None:
    """Chunk records of document number `document` (its pieces may come in several calls)."""
    if records and document != self._last_document:
      self.documents += 1
      self._last_document = document
    for record in records:
      if self._writer is None or self.chunks_per_file_written[-1] == self.chunks_per_file:
        self._next_file()
      self._writer.write(record)
      self.chunks_per_file_written[-1] += 1
      num_sentences = _HEADER.unpack_from(record)[1]
      self.sentences += num_sentences
      self._uncounted.append(
          np.frombuffer(record, self.dtype, offset=_HEADER.size + 4 * num_sentences))
      if len(self._uncounted) >= 4096:
        self._count_tokens()

  def _count_tokens(self) -> None:
    """Adds the pending chunks to the token counts (a bincount a chunk would be 10x slower)."""
    tokens = np.concatenate([np.zeros(0, self.dtype), *self._uncounted])
    self.tokens += len(tokens)
    self.token_counts += np.bincount(tokens, minlength=len(self.token_counts))
    self._uncounted = []

  def _next_file(self) -> None:
    self._close_file()
    self.files.append(f'{self.split}-{len(self.files):05d}.array_record')
    self.chunks_per_file_written.append(0)
    self._writer = array_record_module.ArrayRecordWriter(
        os.path.join(self.directory, self.files[-1]), _WRITER_OPTIONS)

  def _close_file(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def close(self) -> dict:
    """Closes the last file and returns the split's metadata; token counts go to a .npy file."""
    self._close_file()
    self._count_tokens()
    np.save(os.path.join(self.directory, f'{self.split}-token_counts.npy'), self.token_counts)
    return {'files': self.files, 'chunks_per_file': self.chunks_per_file_written,
            'chunks': sum(self.chunks_per_file_written), 'documents': self.documents,
            'sentences': self.sentences, 'tokens': self.tokens}


def read_metadata(directory: str) -> dict:
  """metadata.json of a prepared directory, checked to be one."""
  path = os.path.join(directory, METADATA)
  fix = ('prepare it with `python -m input_pipeline.prepare_text --config=<your config> '
         f'--output={directory}`')
  if not os.path.isfile(path):
    raise PreparedTextError(f'{directory} holds no prepared text ({METADATA} is missing): {fix}')
  try:
    with open(path) as f:
      metadata = json.load(f)
  except (OSError, ValueError) as e:
    raise PreparedTextError(f'{path} is not readable JSON ({e}): {fix} again') from e
  if not isinstance(metadata, dict) or metadata.get('format') != FORMAT:
    raise PreparedTextError(f'{path} does not describe prepared text: {fix}')
  if metadata.get('version') != VERSION:
    raise PreparedTextError(f'{directory} was prepared in format version '
                            f'{metadata.get("version")}; this code reads version {VERSION}: {fix} '
                            f'again')
  return metadata


class SplitReader:
  """Random access to the chunks of one split of a prepared directory."""

  def __init__(self, directory: str, split: str, metadata: dict):
    if split not in metadata['splits']:
      raise PreparedTextError(f'{directory} has no split {split!r} (it has '
                              f'{sorted(metadata["splits"])}): prepare it with '
                              f'`python -m input_pipeline.prepare_text --splits={split} ...`')
    info = metadata['splits'][split]
    self.num_chunks = info['chunks']
    if not self.num_chunks:
      raise PreparedTextError(f'split {split!r} of {directory} (corpus '
                              f'{metadata["corpus"]!r}) has no text: use a larger corpus or '
                              f'another split')
    self.dtype = metadata['token_dtype']
    self.token_counts_path = os.path.join(directory, f'{split}-token_counts.npy')
    self._paths = [os.path.join(directory, name) for name in info['files']]
    self._file_starts = np.cumsum([0, *info['chunks_per_file']]).tolist()
    self._readers = [_open(path, count)
                     for path, count in zip(self._paths, info['chunks_per_file'])]

  def read(self, indices: list[int]) -> dict[int, Chunk]:
    """The chunks at `indices` (of the split, 0 to num_chunks - 1), by index. Consecutive
    indices are read together (one range read each run: faster than the reader's batched read
    of a list, which hands each record to a thread)."""
    indices = sorted(set(indices))
    chunks, run_start = {}, 0
    for end in range(1, len(indices) + 1):
      if end == len(indices) or indices[end] != indices[end - 1] + 1:
        chunks.update(self._read_range(indices[run_start], indices[end - 1] + 1))
        run_start = end
    return chunks

  def _read_range(self, begin: int, end: int) -> dict[int, Chunk]:
    file = bisect.bisect_right(self._file_starts, begin) - 1
    file_end = self._file_starts[file + 1]
    chunks = self._read_range(file_end, end) if end > file_end else {}
    offset, path = self._file_starts[file], self._paths[file]
    try:
      records = self._readers[file].read(begin - offset, min(end, file_end) - offset)
    except (RuntimeError, ValueError) as e:
      raise PreparedTextError(f'{path} could not be read ({e}): prepare the text again '
                              f'(python -m input_pipeline.prepare_text)') from e
    for index, record in enumerate(records, begin):
      chunks[index] = decode(record, self.dtype, f'record {index - offset} of {path}')
    return chunks


def _open(path: str, expected_records: int):
  """An ArrayRecord reader of `path`, checked to hold the records the metadata counts."""
  if not os.path.isfile(path):
    raise PreparedTextError(f'{path} is missing: the prepared directory is incomplete; prepare '
                            f'it again (python -m input_pipeline.prepare_text)')
  try:
    reader = array_record_module.ArrayRecordReader(path, _READER_OPTIONS)
  except (RuntimeError, ValueError) as e:
    raise PreparedTextError(f'{path} is not a readable ArrayRecord file ({e}): prepare the text '
                            f'again (python -m input_pipeline.prepare_text)') from e
  if reader.num_records() != expected_records:
    raise PreparedTextError(f'{path} holds {reader.num_records()} chunks, its metadata '
                            f'{expected_records}: the file was changed or cut; prepare the text '
                            f'again (python -m input_pipeline.prepare_text)')
  return reader
