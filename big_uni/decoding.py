"""Autoregressive decoding with a key/value cache: sampling (temperature, top-k, top-p), greedy,
and beam search with a length penalty. One implementation for every decoder of big_uni (the
causal LM, the Transformer's decoder, the captioner).

A decoder is given to these functions as a step function and its cache:

  step(tokens int32 [B, n], cache) -> (logits float32 [B, n, V], cache)

which feeds the next n tokens of every row (the prompt at once, then one token at a time); see
`model_step`. The cache comes from `init_cache` and holds `length` positions; decoding never
writes past them. Shapes: B rows, P prompt tokens, T new tokens, K beams, V vocabulary.
"""
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from big_uni.models import transformer

Step = Callable[[jax.Array, dict], tuple[jax.Array, dict]]


def init_cache(model, batch_size: int, length: int, method=None, **inputs) -> dict:
  """An empty cache of `length` positions for `batch_size` rows of `model`, whose __call__ (or
  `method`) takes (token ids, ..., decode=True) and returns logits; `inputs` are its other
  arguments (e.g. what it attends to)."""
  ids = jnp.zeros((batch_size, length), jnp.int32)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), ids, decode=True, method=method,
                                             **inputs))
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes['cache'])


def model_step(model, params, method=None, **inputs) -> Step:
  """The step function of `model` with `params`; `method` and `inputs` as in init_cache."""
  def step(tokens, cache):
    logits, variables = model.apply({'params': params, 'cache': cache}, tokens, decode=True,
                                    mutable=['cache'], method=method, **inputs)
    return logits.astype(jnp.float32), variables['cache']
  return step


def cache_length(cache) -> int:
  """Positions the cache holds (its cached keys' length axis)."""
  lengths = {leaf.shape[-2] for path, leaf in jax.tree_util.tree_leaves_with_path(cache)
             if getattr(path[-1], 'key', None) == 'cached_key'}
  if len(lengths) != 1:
    raise ValueError(f'not a decoding cache: cached key lengths {sorted(lengths)}')
  return lengths.pop()


def _check_fits(cache, needed: int):
  if needed > cache_length(cache):
    raise ValueError(f'decoding {needed} positions needs a cache of at least that many; '
                     f'this one holds {cache_length(cache)}')


def filter_logits(logits, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
  """logits [..., V] -> logits to sample from: divided by `temperature`, then all but the
  `top_k` largest (0: all) and all outside the smallest set whose probability reaches `top_p`
  (1.0: all; the most likely token always stays) set to -inf."""
  if temperature <= 0:
    raise ValueError(f'temperature={temperature}: use greedy decoding for temperature 0')
  logits = logits / temperature
  if top_k:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  if top_p < 1.0:
    ordered = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(ordered, axis=-1)
    # Keep a token if the tokens more likely than it hold less than top_p.
    before = jnp.cumsum(probs, axis=-1) - probs
    threshold = jnp.min(jnp.where(before < top_p, ordered, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < threshold, -jnp.inf, logits)
  return logits


def generate(step: Step, cache, prompt, num_tokens: int, *, rng=None, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, eos_id: int | None = None, pad_id: int = 0):
  """Continues every row of `prompt` int32 [B, P] (P >= 1) by `num_tokens` tokens: greedy when
  rng is None, else sampled after filter_logits. Returns int32 [B, P + T]: a row that emits
  eos_id is pad_id after it. All rows share P: pad nothing before a prompt."""
  prompt = jnp.asarray(prompt, jnp.int32)
  batch, prompt_len = prompt.shape
  _check_fits(cache, prompt_len + num_tokens - 1)  # The last token is never fed back.
  logits, cache = step(prompt, cache)

  def choose(logits, key):
    if key is None:
      return logits.argmax(-1).astype(jnp.int32)
    return jax.random.categorical(key, filter_logits(logits, temperature, top_k, top_p)
                                  ).astype(jnp.int32)

  def body(i, state):
    tokens, logits, cache, done = state
    key = None if rng is None else jax.random.fold_in(rng, i)
    token = jnp.where(done, pad_id, choose(logits, key))
    tokens = jax.lax.dynamic_update_slice(tokens, token[:, None], (0, prompt_len + i))
    done = done | (token == eos_id) if eos_id is not None else done
    # The last step's logits are not needed; skipping its forward keeps the cache in bounds.
    logits, cache = jax.lax.cond(i + 1 < num_tokens, lambda: _last(step(token[:, None], cache)),
                                 lambda: (logits, cache))
    return tokens, logits, cache, done

  tokens = jnp.concatenate([prompt, jnp.full((batch, num_tokens), pad_id, jnp.int32)], axis=1)
  state = (tokens, logits[:, -1], cache, jnp.zeros(batch, bool))
  return jax.lax.fori_loop(0, num_tokens, body, state)[0]


def _last(step_output):
  logits, cache = step_output
  return logits[:, -1], cache


def length_penalty(length, alpha: float):
  """GNMT's ((5 + length) / 6) ** alpha (Wu et al. 2016), which beam scores divide by."""
  return ((5.0 + length) / 6.0) ** alpha


def beam_search(step: Step, cache, start, num_tokens: int, *, beam_size: int, eos_id: int,
                alpha: float = 0.6, pad_id: int = 0):
  """The most probable continuation of `start` int32 [B] (each row's first token, e.g. BOS) of
  at most `num_tokens` tokens (EOS included), under log p / length_penalty(length, alpha).

  `step` and `cache` are for B * K rows, row b's beams at b * K .. b * K + K - 1 (repeat what
  the decoder attends to with `repeat_rows`). Of the 2K best extensions of the K beams, those
  ending in EOS among the K best are finished hypotheses (so K = 1 is greedy decoding while
  alpha = 0), and the K best of the others go on. A row stops once no beam can beat its worst
  kept hypothesis. Returns (tokens int32 [B, T] (pad_id after EOS), scores float32 [B]).
  """
  batch = start.shape[0]
  _check_fits(cache, num_tokens)
  k = beam_size
  alive = jnp.full((batch, k, num_tokens + 1), pad_id, jnp.int32).at[:, :, 0].set(start[:, None])
  # Only beam 0 is live at first, so the K beams do not start as K copies of one hypothesis.
  alive_logp = jnp.tile(jnp.array([0.0] + [-jnp.inf] * (k - 1)), (batch, 1))
  finished = jnp.full((batch, k, num_tokens + 1), pad_id, jnp.int32)
  finished_scores = jnp.full((batch, k), -jnp.inf)

  def body(state):
    i, alive, alive_logp, finished, finished_scores, cache = state
    logits, cache = step(alive[:, :, i].reshape(batch * k, 1), cache)
    vocab = logits.shape[-1]
    logp = jax.nn.log_softmax(logits[:, 0]).reshape(batch, k, vocab) + alive_logp[..., None]
    top_logp, top = jax.lax.top_k(logp.reshape(batch, k * vocab), 2 * k)  # [B, 2K]
    beam, token = top // vocab, (top % vocab).astype(jnp.int32)
    sequences = jnp.take_along_axis(alive, beam[..., None], axis=1)
    sequences = sequences.at[:, :, i + 1].set(token)
    is_eos = token == eos_id
    # Finished: EOS among the K best, scored with the length penalty (length i + 1).
    new_scores = jnp.where(is_eos & (jnp.arange(2 * k) < k),
                           top_logp / length_penalty(i + 1, alpha), -jnp.inf)
    finished, finished_scores = _best(jnp.concatenate([finished, sequences], 1),
                                      jnp.concatenate([finished_scores, new_scores], 1), k)
    # Alive: the K best that did not end.
    alive_logp, chosen = jax.lax.top_k(jnp.where(is_eos, -jnp.inf, top_logp), k)
    alive = jnp.take_along_axis(sequences, chosen[..., None], axis=1)
    rows = (jnp.arange(batch)[:, None] * k + jnp.take_along_axis(beam, chosen, 1)).reshape(-1)
    return i + 1, alive, alive_logp, finished, finished_scores, transformer.reorder_cache(
        cache, rows)

  def running(state):
    i, _, alive_logp, _, finished_scores, _ = state
    # Log-probabilities only fall, so an alive beam scores at most its log p now divided by the
    # largest penalty it can reach (alpha >= 0).
    best_possible = alive_logp.max(1) / length_penalty(num_tokens, alpha)
    return (i < num_tokens) & jnp.any(best_possible > finished_scores.min(1))

  state = jax.lax.while_loop(running, body, (0, alive, alive_logp, finished, finished_scores,
                                             cache))
  i, alive, alive_logp, finished, finished_scores, _ = state
  # Beams that reached num_tokens without EOS compete as they are.
  finished, finished_scores = _best(
      jnp.concatenate([finished, alive], 1),
      jnp.concatenate([finished_scores, alive_logp / length_penalty(i, alpha)], 1), 1)
  return finished[:, 0, 1:], finished_scores[:, 0]


def _best(sequences, scores, k: int):
  """The k best-scoring of sequences [B, M, T] with scores [B, M]."""
  scores, index = jax.lax.top_k(scores, k)
  return jnp.take_along_axis(sequences, index[..., None], axis=1), scores


def repeat_rows(tree, times: int):
  """Every array [B, ...] of `tree` as [B * times, ...], row b repeated at b * times...: what a
  beam-searched decoder attends to, one copy per beam."""
  return jax.tree.map(lambda x: jnp.repeat(x, times, axis=0), tree)


def strip(tokens, eos_id: int | None, pad_id: int = 0) -> list[list[int]]:
  """Rows of int [B, T] as lists ending before their first eos_id (or pad_id)."""
  out = []
  for row in np.asarray(tokens).tolist():
    for stop in (eos_id, pad_id):
      if stop is not None and stop in row:
        row = row[:row.index(stop)]
    out.append(row)
  return out


def write(model, params, start, num_tokens: int, *, beam_size: int, alpha: float, eos_id: int,
          method=None, pad_id: int = 0, **inputs):
  """What `model` writes after `start` int32 [B] (each row's start token): int32 [B, T] (EOS,
  then pad_id, where a row ends): greedy for beam_size 1, else beam_search. `method` and
  `inputs` (what it attends to, [B, ...] arrays) as in init_cache. The text decoders' one
  entry point (translation, captioning)."""
  batch = start.shape[0]
  if beam_size == 1:
    cache = init_cache(model, batch, num_tokens, method, **inputs)
    tokens = generate(model_step(model, params, method, **inputs), cache, start[:, None],
                      num_tokens, eos_id=eos_id, pad_id=pad_id)
    return tokens[:, 1:]
  inputs = repeat_rows(inputs, beam_size)
  cache = init_cache(model, batch * beam_size, num_tokens, method, **inputs)
  return beam_search(model_step(model, params, method, **inputs), cache, start, num_tokens,
                     beam_size=beam_size, eos_id=eos_id, alpha=alpha, pad_id=pad_id)[0]
