"""Text corpora: the documents that BERT pretraining and sentencepiece training read.

Pure Python; TensorFlow (through tensorflow_datasets) is imported only when a TFDS
dataset is read by name. A document is a list of sentences (str). Every corpus holds its documents
out by position (`split_of`), so the chapters a tokenizer or a BERT is pretrained on are never the
ones its held-out metrics, or the Austen passage classification test, are measured on.

Corpus names (`iter_documents` streams a corpus one document at a time):
  austen               Jane Austen's 6 novels, one document per chapter (Debian r-cran-janeaustenr)
  ding_de_en           the 21k German-English sentence pairs of the Ding dictionary (Debian
                       trans-de-en; ding.py), one document per pair: its German sentence, then
                       its English one (so a vocabulary trained on it is shared by both)
  python_help          the 79 topics of Python's interactive help (`pydoc_data`, which ships with
                       every CPython: 465k characters of English prose), one document per topic;
                       the smoke configs' corpus, so tests need nothing beyond pip
  text_files:<glob>    one document per file; paragraphs are separated by blank lines (a prefix
                       registered in PREFIXED, as a new corpus of files would be)
  <TFDS name>          e.g. 'wikipedia/20230601.en': the 'text' field of its train split, one
                       document per example, paragraphs on separate lines; a translation
                       dataset's example (no 'text', e.g. 'wmt14_translate/de-en') is a document
                       of its texts, one per language
The labelled texts of fine-tuning are labelled_datasets.py's and the sentence pairs of
translation parallel_corpora.py's; the TFDS reading here serves all three.
"""
import dataclasses
import functools
import glob
import os
import re
from collections.abc import Callable, Iterator

from input_pipeline import dataset_prefixes, ding, errors, r_data
from input_pipeline.registry import Registry

SPLITS = ('train', 'validation', 'test')
AUSTEN_DATA = '/usr/lib/R/site-library/janeaustenr/data/Rdata'  # .rdx index + .rdb records.
DING_DE_EN = '/usr/share/trans/de-en'  # Debian trans-de-en: one 'German :: English' entry a line.
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
# input.dataset '<prefix>:<path>' -> its FileCorpus (registered below the readers;
# dataset_prefixes.py); a name without one of these prefixes is a corpus above or a TFDS name.
PREFIXED = Registry('text corpus prefix')


class CorpusNotFoundError(errors.UserInputError, FileNotFoundError):
  """The files of a corpus are not installed; the message names the package that has them."""


@dataclasses.dataclass(frozen=True)
class FileCorpus:
  """A corpus of your files, one document per file: `files(name)` lists the files of the corpus
  named `name` (sorted), `read(file)` gives a document's sentences. Such corpora are small:
  prepared on first use, again when their files change (text_preparation.py)."""
  files: Callable[[str], list[str]]
  read: Callable[[str], list[str]]


def prefixed_corpus(name: str) -> FileCorpus | None:
  """The FileCorpus of a corpus named '<registered prefix>:<path>', else None."""
  prefixed = dataset_prefixes.prefixed(name, PREFIXED)
  return prefixed and prefixed[0]


def split_of(index: int) -> str:
  """The split of the document at `index`: 1 in 20 is 'validation', 1 in 20 'test'."""
  return {9: 'validation', 19: 'test'}.get(index % 20, 'train')


def check_split(split: str) -> None:
  if split not in SPLITS:
    raise errors.UserInputError(f'split {split!r}: text corpora have the splits {SPLITS}')


def austen_novels() -> list[tuple[str, list[str]]]:
  """[(title, chapters)] for the 6 novels; a chapter is its text without the heading."""
  if not os.path.exists(AUSTEN_DATA + '.rdb'):
    raise CorpusNotFoundError(
        f'Jane Austen\'s novels are not installed ({AUSTEN_DATA}.rdb is missing). On Debian '
        f'or Ubuntu, `apt-get install r-cran-janeaustenr` provides them; elsewhere use '
        f'input.dataset=\'text_files:/path/*.txt\' or a TFDS text dataset.')
  lines_of = r_data.read_r_lazyload_db(AUSTEN_DATA)
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


@functools.lru_cache(maxsize=1)
def ding_pairs() -> tuple[tuple[str, str], ...]:
  """((German, English), ...): the 21,390 sentence pairs of the Ding dictionary, in file order."""
  if not os.path.exists(DING_DE_EN):
    raise CorpusNotFoundError(
        f'the Ding German-English dictionary is not installed ({DING_DE_EN} is missing). On '
        f'Debian or Ubuntu, `apt-get install trans-de-en` provides it; elsewhere use a TFDS '
        f'translation dataset such as input.dataset=\'wmt14_translate/de-en\'.')
  with open(DING_DE_EN, encoding='utf-8') as f:
    return tuple(ding.sentence_pairs(f))


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
def austen_chapters() -> tuple[tuple[int, tuple[str, ...]], ...]:
  """((novel index, sentences), ...) for all 269 chapters, novels in publication order."""
  return tuple((novel, tuple(split_sentences(chapter)))
               for novel, (_, chapters) in enumerate(austen_novels()) for chapter in chapters)


def iter_documents(name: str, *, splits: tuple[str, ...] = SPLITS, data_dir: str | None = None,
                   download: bool = False) -> Iterator[tuple[str, list[str]]]:
  """(split, sentences) of every non-empty document of corpus `name` in `splits`, in a fixed
  order, read one document at a time (a text file, a TFDS record): memory does not grow with
  the corpus. Documents of other splits are skipped unread (TFDS: read, not split)."""
  for split in splits:
    check_split(split)
  for index, read in enumerate(_document_readers(name, data_dir, download)):
    if split_of(index) in splits:
      document = read()
      if document:
        yield split_of(index), document


def _document_readers(name: str, data_dir: str | None,
                      download: bool) -> Iterator[Callable[[], list[str]]]:
  """For each document of the corpus, in order, a function that reads its sentences."""
  if name == 'austen':
    return (functools.partial(list, sentences) for _, sentences in austen_chapters())
  if name == 'ding_de_en':
    return (functools.partial(list, pair) for pair in ding_pairs())
  if name == 'python_help':
    from pydoc_data import topics  # pylint: disable=g-import-not-at-top
    return (functools.partial(split_sentences, topics.topics[topic])
            for topic in sorted(topics.topics))
  if corpus := prefixed_corpus(name):
    return (functools.partial(corpus.read, path) for path in corpus.files(name))
  return (functools.partial(_example_sentences, example)
          for example in tfds_records(name, 'train', data_dir, download)[1])


def _example_sentences(example: dict) -> list[str]:
  """A TFDS example's sentences: its 'text' (paragraphs are on separate lines), or else its
  texts one by one (a translation's, one per language)."""
  if 'text' not in example:
    return [v.decode('utf-8', errors='replace') for v in example.values() if isinstance(v, bytes)]
  text = example['text'].decode('utf-8', errors='replace')
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


PREFIXED.register('text_files', FileCorpus(text_files, _read_sentences))


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
          f'\'austen_novels\' or \'tweets\' (classification), \'ding_de_en\' (translation).')
    builder.download_and_prepare()
  if split not in builder.info.splits:
    raise errors.UserInputError(f'dataset {name!r} has no split {split!r}; available: '
                     f'{sorted(builder.info.splits)}')
  return builder


def tfds_records(name: str, split: str, data_dir: str | None, download: bool):
  """(builder, the examples of a TFDS split as dicts of numpy values, in order, one at a time)."""
  from input_pipeline.tf_cpu import tfds  # pylint: disable=g-import-not-at-top
  builder = _tfds_builder(name, split, data_dir, download)
  if builder.info.file_format == tfds.core.file_adapters.FileFormat.ARRAY_RECORD:
    source = builder.as_data_source(split=split)  # ArrayRecord has no tf.data reader.
    return builder, (source[i] for i in range(len(source)))
  return builder, tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
