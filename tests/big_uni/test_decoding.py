"""Decoding with a key/value cache: the cached forward equals the uncached one (causal LM and
cross-attending decoder, scanned or not); greedy, sampling filters and beam search."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import decoding
from big_uni.models import build_model, text, transformer

VOCAB, EOS = 40, 1


def _lm(scan_layers=False):
  model = build_model(ml_collections.ConfigDict(dict(
      name='causal_lm', variant='mini', width=32, depth=2, mlp_dim=64, num_heads=2,
      vocab_size=VOCAB, max_len=16, dropout=0.0, scan_layers=scan_layers)))
  ids = jnp.asarray(np.random.default_rng(0).integers(2, VOCAB, (3, 12)), jnp.int32)
  return model, nn.unbox(model.init(jax.random.key(0), ids))['params'], ids


class _Decoder(nn.Module):
  """A causal text tower cross-attending to given features: the Transformer's decoder."""
  scan_layers: bool = False

  @nn.compact
  def __call__(self, ids, encoded, encoded_mask, decode=False):
    block = transformer.BlockConfig(num_heads=2, mlp_dim=64, layer_norm_eps=1e-5)
    tower = text.TextEncoder(VOCAB, block, width=32, depth=2, max_len=16, type_vocab_size=0,
                             embed_norm=False, causal=True, scan_layers=self.scan_layers,
                             name='text')
    return tower.attend(tower(ids, encoded=encoded, encoded_mask=encoded_mask, decode=decode))


def _decoder(scan_layers=False):
  rng = np.random.default_rng(1)
  encoded = jnp.asarray(rng.normal(size=(3, 5, 32)), jnp.float32)
  encoded_mask = jnp.asarray([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
  ids = jnp.asarray(rng.integers(2, VOCAB, (3, 12)), jnp.int32)
  model = _Decoder(scan_layers)
  params = model.init(jax.random.key(0), ids, encoded, encoded_mask)['params']
  return model, params, ids, dict(encoded=encoded, encoded_mask=encoded_mask)


def _cached_logits(model, params, ids, pieces, **inputs):
  """Logits of `ids` fed through the cache in pieces of the given lengths."""
  cache = decoding.init_cache(model, ids.shape[0], ids.shape[1], **inputs)
  step = decoding.model_step(model, params, **inputs)
  out, start = [], 0
  for length in pieces:
    logits, cache = step(ids[:, start:start + length], cache)
    out.append(logits)
    start += length
  return jnp.concatenate(out, axis=1)


# Scanned (12 s) in the slow call: the README's suite keeps to 15 minutes on 2 cores.
@pytest.mark.parametrize('scan_layers', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cached_lm_logits_equal_the_uncached_forward(scan_layers):
  model, params, ids = _lm(scan_layers)
  full = model.apply({'params': params}, ids)
  # A 5-token prompt at once, then one token at a time, then a piece of 3.
  cached = _cached_logits(model, params, ids, [5, 1, 1, 1, 1, 3])
  np.testing.assert_allclose(cached, full, rtol=1e-5, atol=1e-5)


# Scanned (13 s) in the slow call: the README's suite keeps to 15 minutes on 2 cores.
@pytest.mark.parametrize('scan_layers', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cached_cross_attending_decoder_equals_the_uncached_forward(scan_layers):
  model, params, ids, inputs = _decoder(scan_layers)
  full = model.apply({'params': params}, ids, **inputs)
  assert 'cross_attention' in params['text']['encoder'][
      'layers' if scan_layers else 'block00']
  np.testing.assert_allclose(_cached_logits(model, params, ids, [1] * 12, **inputs), full,
                             rtol=1e-5, atol=1e-5)


def test_cross_attention_sees_no_padding():
  model, params, ids, inputs = _decoder()
  changed = dict(inputs, encoded=inputs['encoded'].at[1, 3:].set(100.0).at[2, 1:].set(-7.0))
  np.testing.assert_array_equal(model.apply({'params': params}, ids, **inputs),
                                model.apply({'params': params}, ids, **changed))
  changed = dict(inputs, encoded=inputs['encoded'].at[1, 2].set(3.0))  # A real position.
  assert np.abs(model.apply({'params': params}, ids, **inputs)
                - model.apply({'params': params}, ids, **changed))[1].max() > 1e-4


def _greedy_uncached(model, params, prompt, num_tokens):
  tokens = prompt
  for _ in range(num_tokens):
    logits = model.apply({'params': params}, tokens)
    tokens = jnp.concatenate([tokens, logits[:, -1].argmax(-1)[:, None].astype(jnp.int32)], 1)
  return tokens


@pytest.mark.slow  # 25 s (12 uncached forwards, each compiled); the sample tests check it too.
def test_greedy_generation_equals_argmax_over_uncached_forwards():
  model, params, ids = _lm()
  cache = decoding.init_cache(model, 3, 16)
  tokens = decoding.generate(decoding.model_step(model, params), cache, ids[:, :4], 12)
  np.testing.assert_array_equal(tokens, _greedy_uncached(model, params, ids[:, :4], 12))


def test_generation_refuses_to_overrun_its_cache():
  model, params, ids = _lm()
  with pytest.raises(ValueError, match='holds 8'):
    decoding.generate(decoding.model_step(model, params), decoding.init_cache(model, 3, 8),
                      ids[:, :4], 6)


def test_rows_stop_at_eos():
  step = lambda tokens, cache: (jax.nn.one_hot(jnp.full(tokens.shape, EOS), VOCAB) * 9, cache)
  cache = {'cached_key': jnp.zeros((2, 1, 8, 1))}
  tokens = decoding.generate(step, cache, jnp.full((2, 2), 5), 4, eos_id=EOS, pad_id=0)
  np.testing.assert_array_equal(tokens, [[5, 5, EOS, 0, 0, 0]] * 2)
  assert decoding.strip(tokens[:, 2:], EOS) == [[], []]


def test_filter_logits_keeps_top_k_and_the_top_p_nucleus():
  logits = jnp.log(jnp.array([[0.5, 0.2, 0.15, 0.1, 0.05]]))
  kept = lambda x: np.isfinite(np.asarray(x))[0].tolist()
  assert kept(decoding.filter_logits(logits, top_k=2)) == [True, True, False, False, False]
  # 0.5 + 0.2 < 0.8, so the nucleus needs the third token; it stops there.
  assert kept(decoding.filter_logits(logits, top_p=0.8)) == [True, True, True, False, False]
  assert kept(decoding.filter_logits(logits, top_p=0.3)) == [True, False, False, False, False]
  np.testing.assert_allclose(decoding.filter_logits(logits, temperature=2.0), logits / 2)


def test_sampling_draws_from_the_filtered_distribution():
  probs = jnp.array([0.5, 0.3, 0.2] + [0.0] * (VOCAB - 3))
  step = lambda tokens, cache: (jnp.broadcast_to(jnp.log(probs), (*tokens.shape, VOCAB)),
                                cache)
  cache = {'cached_key': jnp.zeros((2000, 1, 4, 1))}
  draw = lambda **kw: np.asarray(decoding.generate(step, cache, jnp.zeros((2000, 1), jnp.int32),
                                                   1, rng=jax.random.key(0), **kw))[:, 1]
  assert abs((draw() == 0).mean() - 0.5) < 0.04
  assert set(draw(top_k=2)) == {0, 1} and abs((draw(top_k=2) == 0).mean() - 0.625) < 0.04
  assert set(draw(top_p=0.5)) == {0}


def test_beam_one_is_greedy_without_length_penalty():
  model, params, ids = _lm()
  cache = decoding.init_cache(model, 3, 10)
  tokens, _ = decoding.beam_search(decoding.model_step(model, params), cache, ids[:, 0], 10,
                                   beam_size=1, eos_id=EOS, alpha=0.0)
  greedy = decoding.generate(decoding.model_step(model, params), decoding.init_cache(model, 3, 10),
                             ids[:, :1], 10, eos_id=EOS)
  np.testing.assert_array_equal(tokens, greedy[:, 1:])


def _exhaustive_best(log_probs, length, alpha):
  """The best EOS-ended (or full-length) sequence of a model whose next-token log-probs depend
  only on the previous token: log_probs [V, V]."""
  best, best_score = None, -np.inf
  def extend(seq, logp):
    nonlocal best, best_score
    for token in range(log_probs.shape[0]):
      new, new_logp = seq + [token], logp + log_probs[seq[-1], token]
      if token == EOS or len(new) - 1 == length:
        score = new_logp / decoding.length_penalty(len(new) - 1, alpha)
        if score > best_score:
          best, best_score = new[1:], score
      else:
        extend(new, new_logp)
  extend([0], 0.0)
  return best, best_score


@pytest.mark.parametrize('alpha', [0.0, 0.6, 2.0])
def test_wide_beam_finds_the_exhaustive_best(alpha):
  vocab = 4
  log_probs = np.asarray(jax.nn.log_softmax(
      jax.random.normal(jax.random.key(3), (vocab, vocab)) * 2))
  step = lambda tokens, cache: (jnp.asarray(log_probs)[tokens], cache)
  cache = {'cached_key': jnp.zeros((64, 1, 4, 1))}
  tokens, scores = decoding.beam_search(step, cache, jnp.zeros(1, jnp.int32), 4, beam_size=64,
                                        eos_id=EOS, alpha=alpha)
  best, best_score = _exhaustive_best(log_probs, 4, alpha)
  assert decoding.strip(tokens, None, pad_id=-1)[0][:len(best)] == best
  np.testing.assert_allclose(scores[0], best_score, rtol=1e-5)


def test_reorder_cache_gathers_the_batch_axis_scanned_or_not():
  cache = {'block00': {'attention': {'cached_key': jnp.arange(3.0)[:, None, None, None],
                                     'decode_index': {'index': jnp.array(2)}}},
           'layers': {'attention': {'cached_key': jnp.arange(6.0).reshape(2, 3, 1, 1, 1),
                                    'decode_index': {'index': jnp.array([2, 2])}}}}
  out = transformer.reorder_cache(cache, jnp.array([2, 2, 0]))
  assert out['block00']['attention']['cached_key'].ravel().tolist() == [2, 2, 0]
  assert out['layers']['attention']['cached_key'].ravel().tolist() == [2, 2, 0, 5, 5, 3]
  assert out['layers']['attention']['decode_index']['index'].tolist() == [2, 2]
