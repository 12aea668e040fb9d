"""BERT's input rows of token pairs, [CLS] A [SEP] B [SEP], and their masked-LM targets,
vectorised over the rows of a batch."""
import numpy as np


class Tables:
  """Per-token lookups for masking, from the tokenizer."""

  def __init__(self, tokenizer):
    special = np.zeros(tokenizer.vocab_size, bool)
    special[list(tokenizer.special_ids())] = True
    self.special = special
    self.word_start = tokenizer.word_start_mask()
    self.replacements = np.flatnonzero(~special).astype(np.int32)
    self.pad_id, self.cls_id, self.sep_id = tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id
    self.mask_id = tokenizer.mask_id


def assemble(tokens: np.ndarray, pairs: np.ndarray, max_seq_len: int, tables: Tables) -> dict:
  """[CLS] A [SEP] B [SEP] rows of `pairs` [n, 5]: input_ids, segment_ids int32 [n, L],
  input_mask bool [n, L], next_sentence_label int32 [n]."""
  a_start, a_end, b_start, b_end = (pairs[:, i:i + 1] for i in range(4))
  length_a, length_b = a_end - a_start, b_end - b_start
  position = np.arange(max_seq_len)[None]
  in_a = (position >= 1) & (position <= length_a)
  in_b = (position >= length_a + 2) & (position < length_a + 2 + length_b)
  source = np.where(in_a, a_start + position - 1, b_start + position - length_a - 2)
  input_ids = np.where(in_a | in_b, tokens[np.where(in_a | in_b, source, 0)], tables.pad_id)
  input_ids[:, 0] = tables.cls_id
  rows = np.arange(len(pairs))
  input_ids[rows, length_a[:, 0] + 1] = tables.sep_id
  input_ids[rows, (length_a + length_b)[:, 0] + 2] = tables.sep_id
  last = length_a + length_b + 2  # The final [SEP].
  return {
      'input_ids': input_ids.astype(np.int32),
      'segment_ids': ((position >= length_a + 2) & (position <= last)).astype(np.int32),
      'input_mask': position <= last,
      'next_sentence_label': pairs[:, 4].astype(np.int32),
  }


def mask_tokens(input_ids: np.ndarray, uniforms: np.ndarray, tables: Tables, *,
                mask_prob: float, max_predictions: int, whole_word: bool) -> dict:
  """BERT's masked LM targets, vectorised over rows.

  Each row masks round(mask_prob * its non-special tokens) tokens (at most max_predictions) in
  random order of its words (whole_word) or tokens, skipping a word that would overshoot; of the
  chosen tokens 80% become [MASK], 10% a random non-special token, 10% stay.

  Args:
    input_ids: int32 [n, L], unmasked.
    uniforms: float [n, 3, L] in [0, 1): the row's word order, 80/10/10 choice, random token.
  Returns: input_ids (masked) int32 [n, L], masked_positions int32 [n, P], masked_ids (the
    original tokens) int32 [n, P], masked_weights float32 [n, P] (P = max_predictions; positions
    ascending, 0 on padding).
  """
  n, length = input_ids.shape
  eligible = ~tables.special[input_ids]
  budget = np.minimum(max_predictions, np.maximum(1, np.round(eligible.sum(1) * mask_prob)))
  budget = np.where(eligible.any(1), budget, 0)
  # A word is a word-start token and the continuation tokens after it (every token by itself
  # without whole_word); a token right after a special one starts a word too.
  previous_eligible = np.pad(eligible, ((0, 0), (1, 0)))[:, :-1]
  starts = eligible & (tables.word_start[input_ids] | ~previous_eligible | (not whole_word))
  word = np.cumsum(starts, axis=1) - 1  # Word index of each token (valid where eligible).
  word_length = np.zeros((n, length), np.int64)
  np.add.at(word_length, (np.nonzero(eligible)[0], word[eligible]), 1)
  order = np.argsort(np.where(word_length > 0, uniforms[:, 0], 2.0), axis=1)
  sorted_length = np.take_along_axis(word_length, order, axis=1)
  taken, total = np.zeros((n, length), bool), np.zeros(n, np.int64)
  for rank in range(length):  # Greedy, as BERT: a word that does not fit is skipped.
    fits = (sorted_length[:, rank] > 0) & (total + sorted_length[:, rank] <= budget)
    taken[:, rank] = fits
    total += np.where(fits, sorted_length[:, rank], 0)
    if (total >= budget).all() or not sorted_length[:, rank].any():
      break
  word_taken = np.zeros((n, length), bool)
  np.put_along_axis(word_taken, order, taken, axis=1)
  selected = eligible & np.take_along_axis(word_taken, np.maximum(word, 0), axis=1)

  choice = uniforms[:, 1]
  random_ids = tables.replacements[(uniforms[:, 2] * len(tables.replacements)).astype(np.int64)]
  masked = np.where(selected & (choice < 0.8), tables.mask_id, input_ids)
  masked = np.where(selected & (choice >= 0.8) & (choice < 0.9), random_ids, masked)
  positions = np.argsort(~selected, axis=1, kind='stable')[:, :max_predictions]
  weights = np.take_along_axis(selected, positions, axis=1)
  positions = np.where(weights, positions, 0)
  return {
      'input_ids': masked.astype(np.int32),
      'masked_positions': positions.astype(np.int32),
      'masked_ids': np.where(weights, np.take_along_axis(input_ids, positions, axis=1),
                             0).astype(np.int32),
      'masked_weights': weights.astype(np.float32),
  }
