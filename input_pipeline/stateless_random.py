"""Random numbers that are pure functions of a key: the order of an epoch and each row's draws.

`shuffle`: a pseudo-random permutation of range(size) whose element i is computed alone, in
O(1). An epoch over a corpus of 10^8 chunks cannot afford a stored permutation in every process
(800 MB of int64), nor a restart deep in the run the time to recompute one. Position i is a
Feistel network over the smallest even number of bits that holds `size`, keyed by the seed, with
cycle walking: values >= size are encrypted again until they fall in range. The network is a
bijection of [0, 4^h), so cycle walking gives a bijection of [0, size) (Black and Rogaway 2002);
fewer than 4 rounds of walking are expected.

`Draws` and `uniforms`: SplitMix64 streams (Steele et al. 2014) keyed by (seed, stream, stream
position), vectorised over the rows of a batch. numpy's Generator costs 40 us to create, 4 us
a draw: 30 ms of every 256-row batch when each row had its own.
"""
import numpy as np

_ROUNDS = 6
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BLOCK = 16  # Words of a row's stream computed with the batch; more come one block at a time.


def shuffle(indices: np.ndarray, size: int, key: tuple[int, ...]) -> np.ndarray:
  """int64 [n]: element `indices` [n] (each in [0, size)) of the permutation keyed by `key`."""
  if size <= 0:
    raise ValueError(f'cannot permute {size} elements')
  half = max(1, (int(size - 1).bit_length() + 1) // 2)
  keys = np.random.SeedSequence(list(key)).generate_state(_ROUNDS, np.uint64)
  values = _encrypt(np.asarray(indices, np.uint64), half, keys)
  outside = values >= size
  while outside.any():
    values[outside] = _encrypt(values[outside], half, keys)
    outside = values >= size
  return values.astype(np.int64)


def _encrypt(values: np.ndarray, half: int, keys: np.ndarray) -> np.ndarray:
  mask = np.uint64((1 << half) - 1)
  left, right = values >> np.uint64(half), values & mask
  for key in keys:
    left, right = right, left ^ (_mix(right ^ key) & mask)
  return (left << np.uint64(half)) | right


def _mix(x: np.ndarray) -> np.ndarray:
  """SplitMix64's finaliser: every input bit flips each output bit with probability ~1/2."""
  with np.errstate(over='ignore'):
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return x ^ (x >> np.uint64(31))


def row_keys(seed: int, stream: int, positions: np.ndarray) -> np.ndarray:
  """uint64 [n]: the key of each row's stream, a hash of (seed, stream, position)."""
  key = np.zeros(len(positions), np.uint64)
  with np.errstate(over='ignore'):
    for part in (np.uint64(seed), np.uint64(stream), np.asarray(positions, np.uint64)):
      key = _mix(key ^ (part + _GOLDEN))
  return key


def words(keys: np.ndarray, start: int, count: int) -> np.ndarray:
  """uint64 [n, count]: words start, ..., start + count - 1 of each key's SplitMix64 stream."""
  counters = np.arange(start + 1, start + count + 1, dtype=np.uint64)
  with np.errstate(over='ignore'):
    return _mix(keys[:, None] + counters[None] * _GOLDEN)


def uniforms(keys: np.ndarray, count: int) -> np.ndarray:
  """float64 [n, count] in [0, 1): the first `count` draws of each key's stream."""
  return (words(keys, 0, count) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def batch_draws(keys: np.ndarray) -> list['Draws']:
  """A Draws for each of `keys` [n], their first words computed together."""
  return [Draws(key, block) for key, block in zip(keys.tolist(), words(keys, 0, _BLOCK).tolist())]


class Draws:
  """One row's random numbers, in the order they are asked for."""

  def __init__(self, key: int, first_words: list[int]):
    self._key, self._words, self._next = key, first_words, 0

  def _word(self) -> int:
    if self._next == len(self._words):
      self._words += words(np.array([self._key], np.uint64), len(self._words), _BLOCK)[0].tolist()
    self._next += 1
    return self._words[self._next - 1]

  def random(self) -> float:
    """A uniform float in [0, 1)."""
    return (self._word() >> 11) / float(1 << 53)

  def integers(self, low: int, high: int | None = None) -> int:
    """A uniform int in [low, high) (in [0, low) without high), as numpy's Generator.integers."""
    low, high = (0, low) if high is None else (low, high)
    return low + int(self.random() * (high - low))

  def heads(self, flips: int) -> int:
    """The number of heads in `flips` fair coin flips: Binomial(flips, 1/2)."""
    count = 0
    while flips > 0:
      count += (self._word() & ((1 << min(flips, 64)) - 1)).bit_count()
      flips -= 64
    return count
