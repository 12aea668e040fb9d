"""The count-based LM baselines on a stream small enough to score by hand."""
import numpy as np

from benchmarks import ngram_lm

_PAD = 3


def _batches():
  """Documents [0 1 2 0 1] and [2 2] as two windows of 5, then a padding row (eval's mask)."""
  ids = np.array([[0, 1, 2, 0, 1], [2, 2, _PAD, _PAD, _PAD], [_PAD] * 5])
  return [{'input_ids': ids, 'input_mask': ids != _PAD, 'mask': np.array([True, True, False])}]


def test_pairs_are_each_token_but_a_documents_first_after_the_one_before():
  contexts, targets = ngram_lm.predicted_pairs(_batches())
  assert contexts.tolist() == [0, 1, 2, 0, 2] and targets.tolist() == [1, 2, 0, 1, 2]


def test_add_one_unigram_by_hand():
  _, targets = ngram_lm.predicted_pairs(_batches())
  probs = ngram_lm.add_one_unigram(targets, vocab_size=4)
  # Counts 1, 2, 2, 0 of 5 targets; (count + 1) / (5 + 4).
  np.testing.assert_allclose(probs, np.array([2, 3, 3, 1]) / 9)
  np.testing.assert_allclose(ngram_lm.perplexity(probs[[1, 0, 2]]), (9**3 / 18)**(1 / 3))


def test_kneser_ney_bigram_by_hand():
  bigram = ngram_lm.KneserNeyBigram(*ngram_lm.predicted_pairs(_batches()), vocab_size=4)
  # Pairs 0 1 (twice), 1 2, 2 0, 2 2 (once each): D = 3 / (3 + 2 * 1).
  assert bigram.discount == 0.6
  # Distinct tokens before 0, 1, 2, 3: 1, 1, 2, 0, of 4 distinct pairs; add-one over 4 tokens.
  np.testing.assert_allclose(bigram.continuation, np.array([2, 2, 3, 1]) / 8)
  probs = bigram.probs(np.array([0, 1, 3]), np.array([1, 0, 2]))
  expected = [(2 - 0.6) / 2 + 0.6 * 1 / 2 * 2 / 8,  # Seen: c(0 1) = 2 of c(0) = 2, 1 follower.
              0.6 * 1 / 1 * 2 / 8,  # Unseen after a seen context: its back-off mass only.
              3 / 8]  # Token 3 never a context: the continuation unigram alone.
  np.testing.assert_allclose(probs, expected)
  np.testing.assert_allclose(ngram_lm.perplexity(probs), np.prod(expected)**(-1 / 3))


def test_kneser_ney_bigram_sums_to_one_after_every_context():
  bigram = ngram_lm.KneserNeyBigram(*ngram_lm.predicted_pairs(_batches()), vocab_size=4)
  contexts, targets = np.repeat(np.arange(4), 4), np.tile(np.arange(4), 4)
  np.testing.assert_allclose(bigram.probs(contexts, targets).reshape(4, 4).sum(1), 1.0)
