"""The generation evaluation's corpus BLEU (sacrebleu, 13a): cases checked by hand."""
import math

import pytest

from big_uni.evaluators.kinds.generation import corpus_bleu


def test_identical_translations_score_100_and_disjoint_ones_0():
  references = ['The cat sat on the mat.', 'It was not unexpected.']
  assert corpus_bleu(references, references) == pytest.approx(100.0)
  assert corpus_bleu(['Dogs bark loudly tonight', 'Rain falls in Spain'], references) == 0.0


def test_a_partial_match():
  # 'this is a fest' against 'this is a test': 3/4 unigrams, 2/3 bigrams, 1/2 trigrams and no
  # 4-gram match, which exponential smoothing counts as 1/2; equal lengths, so no brevity penalty.
  expected = 100 * math.exp((math.log(3 / 4) + math.log(2 / 3) + 2 * math.log(1 / 2)) / 4)
  assert corpus_bleu(['this is a fest'], ['this is a test']) == pytest.approx(expected)


def test_sacrebleus_readme_example_against_its_first_references():
  hypotheses = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.']
  references = ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.']
  # 13a splits off the final periods and keeps "wasn't": 17 tokens each side (no brevity
  # penalty); matches 12/17 unigrams, 6/14 bigrams, 4/11 trigrams, 3/8 4-grams.
  expected = 100 * (12 / 17 * 6 / 14 * 4 / 11 * 3 / 8) ** 0.25
  assert corpus_bleu(hypotheses, references) == pytest.approx(expected, rel=1e-9)
  assert expected == pytest.approx(45.07, abs=0.005)  # As sacrebleu prints it.
