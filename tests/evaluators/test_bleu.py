"""Corpus BLEU: hand-checked cases and sacrebleu's documented example."""
import math

import pytest

from big_uni.evaluators.bleu import corpus_bleu


def test_identical_translations_score_100_and_disjoint_ones_0():
  references = ['The cat sat on the mat.', 'It was not unexpected.']
  assert corpus_bleu(references, references) == pytest.approx(100.0)
  assert corpus_bleu(['Dogs bark loudly tonight', 'Rain falls in Spain'], references) == 0.0


def test_a_partial_match_by_hand():
  # 'this is a fest' against 'this is a test': 3/4 unigrams, 2/3 bigrams, 1/2 trigrams and no
  # 4-gram match, which exponential smoothing counts as 1/2; equal lengths, so no brevity penalty.
  expected = 100 * math.exp((math.log(3 / 4) + math.log(2 / 3) + 2 * math.log(1 / 2)) / 4)
  assert corpus_bleu(['this is a fest'], ['this is a test']) == pytest.approx(expected)


def test_sacrebleus_readme_example_with_two_reference_sets():
  hypotheses = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.']
  first = ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.']
  second = ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.']
  assert corpus_bleu(hypotheses, first, second) == pytest.approx(48.530827, abs=1e-6)


def test_a_reference_per_hypothesis():
  with pytest.raises(ValueError, match='2 hypotheses but references of lengths'):
    corpus_bleu(['a', 'b'], ['a'])
