"""The Transformer (encoder_decoder family): the base size's parameter count, the decoder's causal
mask, source padding unseen, cached decoding equal to the forward pass, sinusoids."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import decoding, errors
from big_uni.models import build_model, encoder_decoder

VOCAB = 50


def _model(**fields):
  return build_model(ml_collections.ConfigDict(dict(name='encoder_decoder', **fields)))


def test_transformer_base_parameter_count():
  """Vaswani et al.'s Table 3 gives 65M for base (6+6 layers, 512 wide, 2,048 MLP, 8 heads) with
  a shared ~37k vocabulary; counted exactly with 37,000 tokens it is 63.1M: 18.9M embedding,
  18.9M encoder, 25.2M decoder (fixed sinusoidal positions have no params)."""
  model = _model(variant='transformer_base', vocab_size=37_000)
  ids = jnp.zeros((1, 8), jnp.int32)
  params = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), ids, jnp.ones((1, 8), bool),
                                   ids))['params']
  assert sum(x.size for x in jax.tree.leaves(params)) == 63_082_496
  assert 'final_norm' not in params['encoder']  # Post-LN, as the paper.


def _tiny(scan_layers=False):
  model = _model(variant='transformer_base', width=32, depth=2, mlp_dim=64, num_heads=2,
                 vocab_size=VOCAB, dropout=0.0, scan_layers=scan_layers)
  rng = np.random.default_rng(0)
  source = jnp.asarray(rng.integers(2, VOCAB, (2, 7)), jnp.int32)
  source_mask = jnp.asarray([[1] * 7, [1] * 4 + [0] * 3], bool)
  target = jnp.asarray(rng.integers(2, VOCAB, (2, 9)), jnp.int32)
  params = model.init(jax.random.key(0), source, source_mask, target)['params']
  return model, params, source, source_mask, target


@pytest.mark.parametrize('changed', [1, 5, 8])
def test_a_later_target_token_changes_no_earlier_logits(changed):
  model, params, source, source_mask, target = _tiny()
  other = target.at[:, changed].set((target[:, changed] + 1) % VOCAB)
  logits = model.apply({'params': params}, source, source_mask, target)
  other_logits = model.apply({'params': params}, source, source_mask, other)
  np.testing.assert_array_equal(logits[:, :changed], other_logits[:, :changed])
  assert np.abs(logits[:, changed:] - other_logits[:, changed:]).max() > 1e-4


def test_padded_source_tokens_are_unseen():
  model, params, source, source_mask, target = _tiny()
  logits = model.apply({'params': params}, source, source_mask, target)
  padded = source.at[1, 4:].set(VOCAB - 1)
  np.testing.assert_allclose(model.apply({'params': params}, padded, source_mask, target)[1],
                             logits[1], rtol=1e-6, atol=1e-6)
  real = source.at[1, 3].set(VOCAB - 1)
  assert np.abs(model.apply({'params': params}, real, source_mask, target)[1]
                - logits[1]).max() > 1e-4


# Scanned (17 s) in the slow call: the README's suite keeps to 15 minutes on 2 cores.
@pytest.mark.parametrize('scan_layers', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cached_decoding_equals_the_forward_pass(scan_layers):
  model, params, source, source_mask, target = _tiny(scan_layers)
  full = model.apply({'params': params}, source, source_mask, target)
  encoded = model.apply({'params': params}, source, source_mask, method=model.encode)
  inputs = dict(encoded=encoded, source_mask=source_mask)
  cache = decoding.init_cache(model, 2, 9, model.decode, **inputs)
  step = decoding.model_step(model, params, model.decode, **inputs)
  logits = []
  for position in range(9):
    step_logits, cache = step(target[:, position:position + 1], cache)
    logits.append(step_logits)
  np.testing.assert_allclose(jnp.concatenate(logits, 1), full, rtol=1e-5, atol=1e-5)


def test_beam_search_of_one_beam_writes_the_greedy_tokens():
  model, params, source, source_mask, _ = _tiny()
  inputs = dict(encoded=model.apply({'params': params}, source, source_mask, method=model.encode),
                source_mask=source_mask)
  start = jnp.array([2, 3])
  write = lambda beam_size, eos_id: decoding.write(
      model, params, start, 8, beam_size=beam_size, alpha=0.0, eos_id=eos_id,
      method=model.decode, **inputs)
  unended = np.asarray(write(1, -1)[0]).tolist()
  eos_id = unended[2]  # A token greedy writes in row 0: the row ends where it first does.
  end = unended.index(eos_id)
  greedy = write(1, eos_id)
  assert greedy[0, end] == eos_id and (greedy[0, end + 1:] == 0).all()
  cache = decoding.init_cache(model, 2, 8, model.decode, **inputs)
  beam, _ = decoding.beam_search(decoding.model_step(model, params, model.decode, **inputs),
                                 cache, start, 8, beam_size=1, eos_id=eos_id, alpha=0.0)
  np.testing.assert_array_equal(beam, greedy)
  assert write(4, eos_id).shape == (2, 8)


def test_sinusoids_are_the_papers():
  table = np.asarray(encoder_decoder.sinusoidal_positions(0, 50, 16))
  position, i = 37, 3
  frequency = 1.0 / 10_000 ** (2 * i / 16)
  np.testing.assert_allclose(table[position, i], np.sin(position * frequency), rtol=1e-5)
  np.testing.assert_allclose(table[position, 8 + i], np.cos(position * frequency), rtol=1e-5)
  shifted = np.asarray(encoder_decoder.sinusoidal_positions(jnp.int32(30), 20, 16))
  np.testing.assert_allclose(shifted, table[30:], rtol=1e-5, atol=1e-6)


def test_an_odd_width_is_refused():
  with pytest.raises(errors.UserInputError, match="even"):
    _model(variant='transformer_base', width=33, num_heads=3, vocab_size=VOCAB)
