"""BERT's next-sentence pairs, built one chunk of prepared text at a time with BERT's
create_pretraining_data algorithm and random numbers that are functions of the row
(input_pipeline.stateless_random), so any pair of the stream is built alone."""
import numpy as np

from input_pipeline import stateless_random


def create_pair(read, num_chunks: int, index: int, rng: stateless_random.Draws, *,
                max_tokens: int, short_seq_prob: float,
                random_next_prob: float) -> tuple[np.ndarray, np.ndarray, int]:
  """(A tokens, B tokens, is_random_next) of the pair built from chunk `index`; `read(i)` gives
  chunk i (a text_chunks.Chunk) of the split's `num_chunks`, `rng` the row's random numbers.

  BERT's create_instances_from_document, one chunk at a time: from a random sentence of the
  chunk, gather sentences (on into the document's next chunk) up to a target length (max_tokens,
  or with probability short_seq_prob a random shorter one), and at least two, and cut them into
  A and B at a random sentence boundary; with probability random_next_prob B is instead
  sentences of another document, gathered up to the target as a true B is. Then the longer
  segment loses tokens at a random end until the pair fits. So A and B are whole sentences
  before truncation whatever the label: where they start and end does not give a true B away.
  Unlike BERT, a sentence that reaches the target alone takes the next one along as its true B
  (BERT always gives it a random B, which made 55% of Austen's pairs random), and a pair starts
  before the last sentence of its document where it can, so that half the pairs are random.
  """
  target = max_tokens
  if rng.random() < short_seq_prob:
    target = rng.integers(2, max_tokens + 1)
  tokens, starts = _sentences(read, num_chunks, index, rng, target, at_least=2)
  random_next = rng.random() < random_next_prob or len(starts) < 3
  cut = starts[rng.integers(1, len(starts) - 1)] if len(starts) > 2 else starts[-1]
  a, b = tokens[:cut], tokens[cut:]
  if random_next:
    # A true B is the sentence after A's on; a random one starts after a random sentence too:
    # a random sentence of a random chunk itself is more often a long one (in a chunk of few).
    other = _other_chunk(read, num_chunks, index, rng)
    b = _sentences(read, num_chunks, other, rng, target - cut, skip=1)[0]
  a_start, a_end, b_start, b_end = _truncate((0, len(a)), (0, len(b)), max_tokens, rng)
  return a[a_start:a_end], b[b_start:b_end], int(random_next)


def _sentences(read, num_chunks: int, index: int, rng, target: int, at_least: int = 1,
               skip: int = 0) -> tuple[np.ndarray, list[int]]:
  """(tokens, sentence starts) of consecutive sentences of chunk `index`'s document: from a
  random sentence of the chunk, `skip` (0 or 1) sentences on, until they hold `target` tokens
  and `at_least` (1 or 2) sentences, or the document ends (in a document's last chunk, the
  start leaves `skip + at_least` sentences where the chunk has them). A chunk has at least
  max_tokens >= target tokens unless it ends its document, so the next chunk is the most ever
  needed."""
  chunk = read(index)
  following = read(index + 1) if index + 1 < num_chunks else None
  sentences = len(chunk.starts) - 1
  if following is None or following.document != chunk.document:
    following = None
    sentences = max(1, sentences + 1 - skip - at_least)
  tokens, starts = chunk.tokens, chunk.starts[rng.integers(sentences):]
  short = (len(starts) - 1 < skip + at_least
           or starts[-1] - starts[min(skip, len(starts) - 1)] < target)
  if short and following is not None:
    tokens = np.concatenate([tokens, following.tokens])
    starts = starts + [starts[-1] + s for s in following.starts[1:]]
  first = min(skip, len(starts) - 2)
  end = first + 1
  while end < len(starts) - 1 and (starts[end] - starts[first] < target
                                   or end - first < at_least):
    end += 1
  return (tokens[starts[first]:starts[end]],
          [s - starts[first] for s in starts[first:end + 1]])


def _other_chunk(read, num_chunks: int, index: int, rng) -> int:
  """A random chunk of another document (BERT's bounded retry: a one-document corpus falls back
  on its own)."""
  document = read(index).document
  for _ in range(10):
    other = rng.integers(num_chunks)
    if read(other).document != document:
      break
  return other


def _truncate(a, b, max_tokens: int, rng) -> tuple[int, int, int, int]:
  """BERT's truncate_seq_pair in closed form: the longer segment (B on ties) loses one token at
  a time, from its front or back with equal odds, until the pair has max_tokens tokens."""
  length_a, length_b = a[1] - a[0], b[1] - b[0]
  excess = length_a + length_b - max_tokens
  if excess > 0:
    longer, shorter = max(length_a, length_b), min(length_a, length_b)
    if longer - excess >= shorter:
      new_a, new_b = ((length_a - excess, length_b) if length_a > length_b
                      else (length_a, length_b - excess))
    else:  # Both end up halved; B loses the odd token.
      new_a, new_b = (max_tokens + 1) // 2, max_tokens // 2
    front_a = rng.heads(length_a - new_a)
    front_b = rng.heads(length_b - new_b)
    a = (a[0] + front_a, a[0] + front_a + new_a)
    b = (b[0] + front_b, b[0] + front_b + new_b)
  return int(a[0]), int(a[1]), int(b[0]), int(b[1])
