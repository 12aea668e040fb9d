"""Count-based language models that a causal LM's perplexity is read against: add-one unigram
and interpolated Kneser-Ney bigram, over the same (context, target) pairs the LM predicts.

Numpy only. Shapes: n predicted tokens, V vocabulary.
"""
import numpy as np


def predicted_pairs(batches) -> tuple[np.ndarray, np.ndarray]:
  """(previous token, predicted token) int64 [n] of every target a causal LM's evaluation pass
  scores: `batches` are token_windows batches (input_ids int [B, L], input_mask bool [B, L],
  'mask' bool [B] in eval), weighted as tasks/causal_lm.py weights its targets."""
  contexts, targets = [], []
  for batch in batches:
    weights = batch['input_mask'][:, 1:]
    if 'mask' in batch:
      weights = weights & batch['mask'][:, None]
    contexts.append(batch['input_ids'][:, :-1][weights])
    targets.append(batch['input_ids'][:, 1:][weights])
  return (np.concatenate(contexts).astype(np.int64), np.concatenate(targets).astype(np.int64))


def perplexity(probs: np.ndarray) -> float:
  """exp of the mean negative log of the probabilities [n] given to the targets."""
  return float(np.exp(-np.mean(np.log(probs))))


def add_one_unigram(targets: np.ndarray, vocab_size: int) -> np.ndarray:
  """p(w) float64 [V] = (count(w) + 1) / (n + V): Laplace smoothing over the vocabulary."""
  return (np.bincount(targets, minlength=vocab_size) + 1) / (len(targets) + vocab_size)


class KneserNeyBigram:
  """Interpolated Kneser-Ney (Chen & Goodman 1998, one discount):

    p(w | v) = max(c(v w) - D, 0) / c(v) + D N(v .) / c(v) p_cont(w)    where c(v) > 0,
    p(w | v) = p_cont(w)                                                where c(v) = 0,
    p_cont(w) = (N(. w) + 1) / (N(. .) + V),

  c counts the training pairs, N(v .) the distinct tokens seen after v, N(. w) the distinct tokens
  seen before w, N(. .) the distinct pairs. The continuation unigram is add-one smoothed so that
  a token never seen after anything keeps some probability. D = n1 / (n1 + 2 n2) (n1, n2: pairs
  seen once, twice), Ney et al.'s estimate from the training counts alone, so no held-out data
  and nothing tuned on the data it is scored on.
  """

  def __init__(self, contexts: np.ndarray, targets: np.ndarray, vocab_size: int):
    """contexts, targets: int [n] training pairs; ids below vocab_size."""
    self.vocab_size = vocab_size
    keys, counts = np.unique(contexts * vocab_size + targets, return_counts=True)
    self.pair_keys, self.pair_counts = keys, counts  # Sorted; key = v V + w.
    n1, n2 = (counts == 1).sum(), (counts == 2).sum()
    self.discount = float(n1 / max(n1 + 2 * n2, 1))
    self.context_counts = np.bincount(contexts, minlength=vocab_size)  # c(v) [V]
    self.followers = np.bincount(keys // vocab_size, minlength=vocab_size)  # N(v .) [V]
    preceders = np.bincount(keys % vocab_size, minlength=vocab_size)  # N(. w) [V]
    self.continuation = (preceders + 1) / (len(keys) + vocab_size)  # p_cont [V]

  def probs(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """p(target | context) float64 [n] of pairs int [n]."""
    keys = contexts * self.vocab_size + targets
    found = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
    pair_counts = np.where(self.pair_keys[found] == keys, self.pair_counts[found], 0)
    context_counts = self.context_counts[contexts]
    seen = np.maximum(context_counts, 1)  # c(v) = 0 takes the other branch below.
    discounted = np.maximum(pair_counts - self.discount, 0) / seen
    backoff = self.discount * self.followers[contexts] / seen
    continuation = self.continuation[targets]
    return np.where(context_counts > 0, discounted + backoff * continuation, continuation)
