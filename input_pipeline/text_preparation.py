"""Tokenizing a text corpus once into chunks stored for random access (text_chunks.py), which
bert_pretraining reads; prepare_text.py is its command:

    python -m input_pipeline.prepare_text --config=configs/bert_base.py --output=/data/wiki128

The corpus is streamed one document at a time (a text file, a TFDS record) and tokenized by
`workers` processes, so memory stays bounded.

Small corpora (austen, python_help, text_files:) need no manual step: with input.prepared_dir
empty they are prepared on first use into input.cache_dir (default ~/.cache/big_uni/text), keyed
by the corpus (and its files' sizes and times), the tokenizer and max_seq_len, written under a
temporary name and renamed, so processes that start together never read half a directory.
"""
import collections
import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import uuid

import ml_collections

from input_pipeline import config_schema, text_chunks, text_corpora, tokenizers

CACHE_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'big_uni', 'text')
# Corpora that a run prepares by itself when input.prepared_dir is empty (those that install
# with a package, and your files: text_corpora.prefixed_corpus); TFDS corpora (Wikipedia: hours
# of tokenizing) are prepared once with `python -m input_pipeline.prepare_text`.
_SMALL_CORPORA = ('austen', 'python_help')
# A task of the tokenizing workers: documents (or pieces of long ones) up to this much text.
_TASK_CHARACTERS = 1 << 20
# A longer document is tokenized (and chunked) in pieces of this many sentences, so a worker's
# memory does not grow with the length of a document.
_PIECE_SENTENCES = 10_000
_WORKER = {}  # The tokenizer and options of this (worker) process.


def prepare(input_config, output: str, *, splits=text_corpora.SPLITS, workers: int = 0,
            chunks_per_file: int = text_chunks.CHUNKS_PER_FILE) -> dict:
  """Writes the chunks of `splits` of input_config.dataset to `output` (a new directory) and
  returns its metadata. workers=0 tokenizes in this process.

  One pass over the corpus a split (the others' documents are skipped unread): an ArrayRecord
  writer holds ~16 MB of buffers, so one open at a time keeps memory flat."""
  unknown = sorted(set(splits) - set(text_corpora.SPLITS))
  if unknown:
    raise text_chunks.PreparedTextError(f'splits {unknown}: text corpora have the splits '
                                        f'{text_corpora.SPLITS}')
  # A BERT pretraining section (the config file leaves its kind to the task).
  input_config = config_schema.completed(input_config,
                                         config_schema.INPUT.sections['bert_pretraining'])
  tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
  max_seq_len = input_config.max_seq_len
  # Unique across the hosts that may prepare the same cache directory on a shared disk.
  partial = f'{output.rstrip("/")}.partial-{uuid.uuid4().hex}'
  os.makedirs(partial)
  options = (input_config.tokenizer.to_dict(), max_seq_len - 3,
             text_chunks.token_dtype(tokenizer.vocab_size))
  split_metadata = {}
  try:
    with _tokenizing(workers, options) as tokenize:
      for split in splits:
        writer = text_chunks.SplitWriter(partial, split, tokenizer.vocab_size, chunks_per_file)
        for results in tokenize(_tasks(_numbered_documents(input_config, split))):
          for document, records in results:
            writer.write(document, records)
        split_metadata[split] = writer.close()
  except BaseException:
    shutil.rmtree(partial, ignore_errors=True)
    raise
  metadata = {
      'format': text_chunks.FORMAT, 'version': text_chunks.VERSION,
      'corpus': input_config.dataset, 'max_seq_len': max_seq_len,
      'tokenizer': {'kind': tokenizer.kind, 'vocab_size': tokenizer.vocab_size,
                    'fingerprint': tokenizer.fingerprint},
      'token_dtype': text_chunks.token_dtype(tokenizer.vocab_size), 'splits': split_metadata,
  }
  with open(os.path.join(partial, text_chunks.METADATA), 'w') as f:
    json.dump(metadata, f, indent=1)
  try:
    os.rename(partial, output)
  except OSError:  # Another process finished first (a full directory cannot be replaced).
    shutil.rmtree(partial)
    if not os.path.isdir(output):
      raise
  return metadata


def _numbered_documents(input_config, split: str):
  """(number in the split, sentences) of the documents of `split`."""
  documents = text_corpora.iter_documents(
      input_config.dataset, splits=(split,), data_dir=input_config.data_dir or None,
      download=input_config.download)
  for number, (_, sentences) in enumerate(documents):
    yield number, sentences


def _tasks(documents):
  """Lists of (document, sentences) of about _TASK_CHARACTERS of text; long documents come in
  pieces of _PIECE_SENTENCES sentences."""
  task, size = [], 0
  for document, sentences in documents:
    for begin in range(0, len(sentences), _PIECE_SENTENCES):
      piece = sentences[begin:begin + _PIECE_SENTENCES]
      task.append((document, piece))
      size += sum(map(len, piece))
      if size >= _TASK_CHARACTERS:
        yield task
        task, size = [], 0
  if task:
    yield task


def _initialize_worker(tokenizer_config: dict, max_tokens: int, dtype: str) -> None:
  os.environ.setdefault('RAYON_NUM_THREADS', '1')  # One process per core already.
  _WORKER.update(tokenizer=tokenizers.build_tokenizer(ml_collections.ConfigDict(tokenizer_config)),
                 max_tokens=max_tokens, dtype=dtype)


def _tokenize_task(task) -> list[tuple[int, list[bytes]]]:
  """(document, chunk records) of each (document, sentences) of the task."""
  tokenized = _WORKER['tokenizer'].encode_batch([s for _, piece in task for s in piece])
  results, begin = [], 0
  for document, piece in task:
    sentences = [s for s in tokenized[begin:begin + len(piece)] if s]
    begin += len(piece)
    chunks = text_chunks.chunk_document(sentences, _WORKER['max_tokens'])
    results.append((document, [text_chunks.encode(document, c, _WORKER['dtype'])
                               for c in chunks]))
  return results


@contextlib.contextmanager
def _tokenizing(workers: int, options):
  """A function from tasks to their results, in order, computed by `workers` spawned processes
  (0: this one)."""
  if not workers:
    _initialize_worker(*options)
    yield lambda tasks: map(_tokenize_task, tasks)
    return
  context = multiprocessing.get_context('spawn')  # Fork copies the tokenizer's threads' locks.
  with context.Pool(workers, _initialize_worker, options) as pool:
    yield functools.partial(_in_order, pool, 2 * workers)


def _in_order(pool, in_flight: int, tasks):
  """_tokenize_task of each task on `pool`, at most `in_flight` at a time so that memory stays
  bounded (Pool.imap would read all the tasks ahead)."""
  pending = collections.deque()
  for task in tasks:
    pending.append(pool.apply_async(_tokenize_task, (task,)))
    if len(pending) >= in_flight:
      yield pending.popleft().get()
  while pending:
    yield pending.popleft().get()


def prepared_directory(input_config, tokenizer) -> tuple[str, dict]:
  """(directory, metadata) of the prepared chunks the config reads, checked against it:
  input.prepared_dir, or for small corpora the cache (prepared here if missing)."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  directory = input_config.prepared_dir
  if not directory:
    if not (input_config.dataset in _SMALL_CORPORA
            or text_corpora.prefixed_corpus(input_config.dataset)):
      raise text_chunks.PreparedTextError(
          f'input.dataset={input_config.dataset!r} is read from prepared chunks: prepare them '
          f'once with `python -m input_pipeline.prepare_text --config=<this config> '
          f'--output=DIR` and set --config.input.prepared_dir=DIR')
    directory = _cached(input_config, tokenizer)
  metadata = text_chunks.read_metadata(directory)
  _check_matches(directory, metadata, input_config, tokenizer)
  return directory, metadata


def _cached(input_config, tokenizer) -> str:
  """The cache directory of a small corpus, prepared first if it is not there yet."""
  max_seq_len = input_config.max_seq_len
  key = [input_config.dataset, max_seq_len, tokenizer.fingerprint, text_chunks.VERSION]
  corpus = text_corpora.prefixed_corpus(input_config.dataset)
  if corpus:  # Changed files are prepared again.
    key.append([(path, os.stat(path).st_size, os.stat(path).st_mtime_ns)
                for path in corpus.files(input_config.dataset)])
  digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
  name = re.sub(r'[^A-Za-z0-9.]+', '_', input_config.dataset)[-40:]  # Globs differ at the end.
  directory = os.path.join(input_config.cache_dir or CACHE_DIR,
                           f'{name}-{max_seq_len}-{digest}')
  if not os.path.isdir(directory):
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    prepare(input_config, directory)
  return directory


def _check_matches(directory: str, metadata: dict, input_config, tokenizer) -> None:
  """Prepared chunks of another corpus, length or tokenizer would train on the wrong tokens."""
  fix = ('prepare the text for this config (`python -m input_pipeline.prepare_text '
         '--config=<this config> --output=NEW_DIR`, then --config.input.prepared_dir=NEW_DIR)')
  max_seq_len = input_config.max_seq_len
  if metadata['corpus'] != input_config.dataset:
    raise text_chunks.PreparedTextError(
        f'{directory} holds corpus {metadata["corpus"]!r}, the config reads '
        f'input.dataset={input_config.dataset!r}: {fix}, or set input.dataset to '
        f'{metadata["corpus"]!r}')
  if metadata['max_seq_len'] != max_seq_len:
    raise text_chunks.PreparedTextError(
        f'{directory} was prepared for max_seq_len={metadata["max_seq_len"]}, the config has '
        f'input.max_seq_len={max_seq_len}: {fix}, or set input.max_seq_len='
        f'{metadata["max_seq_len"]}')
  if metadata['tokenizer']['fingerprint'] != tokenizer.fingerprint:
    raise text_chunks.PreparedTextError(
        f'{directory} was tokenized by another {metadata["tokenizer"]["kind"]} vocabulary '
        f'({metadata["tokenizer"]["vocab_size"]} tokens) than input.tokenizer ({tokenizer.kind}, '
        f'{tokenizer.vocab_size} tokens): {fix}')
