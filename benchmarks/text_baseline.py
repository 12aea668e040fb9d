"""Baselines that BERT's figures are read against. Prints `key=value` lines.

Text classification, TF-IDF n-grams + logistic regression:

  python -m benchmarks.text_baseline --dataset=tweets

Word 1-2-grams and character 2-5-grams (within word boundaries), sublinear TF-IDF, multinomial
logistic regression with C chosen on the validation split, then refit on train + validation and
scored once on test.

Pretraining, a model that ignores its input (the most frequent token for MLM, the more common
label for NSP), on the evaluation pass of the config's eval_split:

  python -m benchmarks.text_baseline --pretraining_config=configs/bert_austen.py

Causal language modelling, an add-one unigram and an interpolated Kneser-Ney bigram
(benchmarks/ngram_lm.py) counted on the train_split's predicted tokens and scored on the
eval_split's: the same tokenizer, windows and targets as the config's LM evaluation (every token
of a document but its first), so their perplexities read against the LM's:

  python -m benchmarks.text_baseline --lm_config=configs/lm_austen.py
"""
import time

import numpy as np
from absl import app, flags
from ml_collections import config_flags
from scipy import sparse
from sklearn import feature_extraction, linear_model

from benchmarks import ngram_lm
from big_uni import config_schema
from input_pipeline import bert_pretraining, labelled_datasets, text_classification, token_windows

_DATASET = flags.DEFINE_string('dataset', 'tweets', 'A labelled_datasets.labelled_texts name.')
_NUM_TRAIN = flags.DEFINE_integer('num_train_examples', 0,
                                  'Train on a fixed random subset of this size (0: all), as '
                                  'input.num_train_examples does for BERT.')
_MIN_CONFIDENCE = flags.DEFINE_float('min_confidence', 0.0,
                                     'tweets: keep labels with at least this annotator confidence.')
_PRETRAINING_CONFIG = config_flags.DEFINE_config_file(
    'pretraining_config', None, 'A BERT pretraining config: print its MLM and NSP baselines.')
_LM_CONFIG = config_flags.DEFINE_config_file(
    'lm_config', None, 'A causal LM config: print its unigram and bigram perplexities.')
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def _texts(dataset: str, split: str, min_confidence: float):
  texts_a, texts_b, labels, names = labelled_datasets.labelled_texts(dataset, split,
                                                                     min_confidence=min_confidence)
  if texts_b:
    texts_a = [f'{a} ||| {b}' for a, b in zip(texts_a, texts_b)]
  return texts_a, np.asarray(labels), names


def tfidf_baseline(dataset: str, num_train_examples: int = 0, min_confidence: float = 0.0) -> dict:
  train_x, train_y, names = _texts(dataset, 'train', min_confidence)
  keep = text_classification.subset(len(train_y), num_train_examples)  # As the BERT runs see.
  if keep is not None:
    train_x, train_y = [train_x[i] for i in keep], train_y[keep]
  val_x, val_y, _ = _texts(dataset, 'validation', min_confidence)
  test_x, test_y, _ = _texts(dataset, 'test', min_confidence)
  word = feature_extraction.text.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                                                 min_df=2)
  char = feature_extraction.text.TfidfVectorizer(analyzer='char_wb', ngram_range=(2, 5),
                                                 sublinear_tf=True, min_df=2)

  def fit_features(texts):
    return sparse.hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()

  def features(texts):
    return sparse.hstack([word.transform(texts), char.transform(texts)]).tocsr()

  def classifier(c):
    return linear_model.LogisticRegression(C=c, max_iter=2000)

  x = fit_features(train_x)
  sweep = {c: classifier(c).fit(x, train_y).score(features(val_x), val_y) for c in C_GRID}
  best_c = max(sweep, key=lambda c: (sweep[c], -c))
  x = fit_features(train_x + val_x)
  model = classifier(best_c).fit(x, np.concatenate([train_y, val_y]))
  return {'classes': len(names), 'train_examples': len(train_y), 'best_C': best_c,
          'validation_accuracy': sweep[best_c],
          'test_accuracy': model.score(features(test_x), test_y)}


def pretraining_baselines(input_config, batch_size: int = 256) -> dict[str, float]:
  """What a model that ignores its input scores on eval_split's evaluation pass: MLM accuracy
  of always predicting the most frequent non-special token of train_split (the unigram
  baseline), and NSP accuracy of always predicting the more common label (chance: ~0.5)."""
  train = bert_pretraining.Pipeline(input_config, input_config.train_split, False,
                                    bert_pretraining.EVAL_SEED)
  counts = np.load(train.chunks.token_counts_path, allow_pickle=False)
  counts[list(train.tokenizer.special_ids())] = 0
  guess = counts.argmax()
  hits = total = 0.0
  nsp_counts = np.zeros(2)
  for batch in bert_pretraining.get_iterator(input_config, input_config.eval_split,
                                             train=False, global_batch_size=batch_size,
                                             seed=bert_pretraining.EVAL_SEED):
    hits += ((batch['masked_ids'] == guess) * batch['masked_weights']).sum()
    total += batch['masked_weights'].sum()
    nsp_counts += np.bincount(batch['next_sentence_label'][batch['mask']], minlength=2)
  return {'mlm_most_frequent_token_accuracy': float(hits / total),
          'nsp_majority_accuracy': float(nsp_counts.max() / nsp_counts.sum())}


def lm_baselines(config, batch_size: int = 256) -> dict:
  """Perplexities on eval_split of count models fitted on train_split, both read as the causal
  LM `config`'s evaluation pass reads them (token_windows), over its model.vocab_size tokens;
  the eval targets are checked to be every token of the split's documents but each one's first."""
  config = config_schema.complete(config.copy_and_resolve_references())  # Sets input.kind.
  input_config = config.input

  def pairs(split):
    return ngram_lm.predicted_pairs(token_windows.get_iterator(
        input_config, split, train=False, global_batch_size=batch_size, seed=0))

  train_contexts, train_targets = pairs(input_config.train_split)
  contexts, targets = pairs(input_config.eval_split)
  layout = token_windows.Pipeline(input_config, input_config.eval_split).layout
  expected = int(np.maximum(layout.document_ends - layout.document_starts - 1, 0).sum())
  if len(targets) != expected:
    raise AssertionError(f'{len(targets)} predicted tokens, but the documents hold {expected}')
  vocab_size = config.model.vocab_size
  unigram = ngram_lm.add_one_unigram(train_targets, vocab_size)
  bigram = ngram_lm.KneserNeyBigram(train_contexts, train_targets, vocab_size)
  return {'unigram_perplexity': ngram_lm.perplexity(unigram[targets]),
          'bigram_perplexity': ngram_lm.perplexity(bigram.probs(contexts, targets)),
          'bigram_discount': bigram.discount, 'train_predicted_tokens': len(train_targets),
          'predicted_tokens': len(targets)}


def main(argv):
  del argv
  start = time.perf_counter()
  if _PRETRAINING_CONFIG.value is not None:
    results = pretraining_baselines(_PRETRAINING_CONFIG.value.input)
  elif _LM_CONFIG.value is not None:
    results = lm_baselines(_LM_CONFIG.value)
  else:
    results = tfidf_baseline(_DATASET.value, _NUM_TRAIN.value, _MIN_CONFIDENCE.value)
  results['seconds'] = time.perf_counter() - start
  for key, value in results.items():
    print(f'{key}={value:.4f}' if isinstance(value, float) else f'{key}={value}')


if __name__ == '__main__':
  app.run(main)
