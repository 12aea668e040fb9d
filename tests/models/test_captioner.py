"""The captioner family: shapes, causal captions that see their own image whole, cached decoding
equal to the uncached forward, beam 1 = greedy, FLOPs against XLA's count."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import aot, decoding, flops, train
from big_uni.models import build_model
from configs import caption_fashion_mnist

VOCAB, EOS = 50, 1


def _model(image_width=32):
  """A 2-layer ViT (patch 4 on 8x8: 4 tokens) and a 2-layer, 32-wide decoder."""
  return build_model(ml_collections.ConfigDict(dict(
      name='captioner',
      image=dict(variant='micro/4', width=image_width, depth=2, mlp_dim=64, num_heads=2,
                 pool='gap'),
      text=dict(variant='mini', width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=VOCAB,
                max_len=16, dropout=0.0))))


@pytest.fixture(scope='module')
def tiny():
  """(model, params, images [3, 8, 8, 1], caption ids [3, 12], jitted forward)."""
  model = _model()
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(3, 8, 8, 1)), jnp.float32)
  ids = jnp.asarray(rng.integers(2, VOCAB, (3, 12)), jnp.int32)
  params = nn.unbox(jax.jit(model.init)(jax.random.key(0), images, ids))['params']
  forward = jax.jit(lambda images, ids: model.apply({'params': params}, images, ids))
  return model, params, images, ids, forward


def test_logits_shapes(tiny):
  model, params, images, ids, forward = tiny
  logits = forward(images, ids)
  assert logits.shape == (3, 12, VOCAB) and logits.dtype == jnp.float32
  encoded = model.apply({'params': params}, images, method=model.encode)
  assert encoded.shape == (3, 4, 32)  # 2x2 patches.
  assert 'cross_attention' in params['text']['encoder']['block01']
  assert 'head' not in params['image'] and 'segment_embed' not in params['text']


def test_image_tokens_are_projected_to_the_decoders_width(tiny):
  model = _model(image_width=48)
  images, ids = jnp.zeros((1, 8, 8, 1)), jnp.zeros((1, 12), jnp.int32)
  params = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), images, ids))['params']
  assert params['image_projection']['kernel'].shape == (48, 32)
  encoded = jax.eval_shape(lambda p: model.apply({'params': p}, images, method=model.encode),
                           params)
  assert encoded.shape == (1, 4, 32)
  assert 'image_projection' not in tiny[1]  # Equal widths: none.


@pytest.mark.parametrize('changed', [1, 6, 11])
def test_a_later_caption_token_changes_no_earlier_logits(tiny, changed):
  _, _, images, ids, forward = tiny
  other = ids.at[:, changed].set((ids[:, changed] + 1) % VOCAB)
  logits, other_logits = forward(images, ids), forward(images, other)
  np.testing.assert_array_equal(logits[:, :changed], other_logits[:, :changed])
  assert np.abs(logits[:, changed:] - other_logits[:, changed:]).max() > 1e-4


def test_every_position_sees_its_own_image_and_no_other(tiny):
  _, _, images, ids, forward = tiny
  logits = np.asarray(forward(images, ids))
  # One pixel of row 1's image: in one patch token only, and every image token is attended to.
  changed = np.asarray(forward(images.at[1, 7, 7, 0].add(3.0), ids))
  np.testing.assert_array_equal(changed[[0, 2]], logits[[0, 2]])
  assert np.abs(changed[1] - logits[1]).max(axis=-1).min() > 1e-5  # At every position.


def _cached_logits(model, params, images, ids):
  """Logits of `ids` fed one token at a time through the decoding cache."""
  encoded = model.apply({'params': params}, images, method=model.encode)
  inputs = dict(method=model.decode, encoded=encoded)
  cache = decoding.init_cache(model, ids.shape[0], ids.shape[1], **inputs)
  step = jax.jit(decoding.model_step(model, params, **inputs))
  out = []
  for i in range(ids.shape[1]):
    logits, cache = step(ids[:, i:i + 1], cache)
    out.append(logits)
  return jnp.concatenate(out, axis=1)


def test_cached_decoding_equals_the_uncached_forward(tiny):
  model, params, images, ids, forward = tiny
  np.testing.assert_allclose(_cached_logits(model, params, images, ids), forward(images, ids),
                             rtol=1e-5, atol=1e-5)


def _encoded_inputs(model, params, images):
  return dict(method=model.decode,
              encoded=model.apply({'params': params}, images, method=model.encode))


@jax.jit
def _greedy(params, images, start):
  model = _model()
  return decoding.write(model, params, start, 10, beam_size=1, alpha=0.0, eos_id=EOS,
                        **_encoded_inputs(model, params, images))


def test_greedy_writes_the_argmax_of_uncached_forwards(tiny):
  model, params, images, ids, forward = tiny
  greedy = _greedy(params, images, ids[:, 0])
  # Causal: the logits at t of a row padded after t are those of its first t + 1 tokens.
  tokens = jnp.zeros((3, 11), jnp.int32).at[:, 0].set(ids[:, 0])
  for t in range(10):
    tokens = tokens.at[:, t + 1].set(forward(images, tokens)[:, t].argmax(-1).astype(jnp.int32))
  assert decoding.strip(greedy, EOS) == decoding.strip(tokens[:, 1:], EOS)


def test_beam_one_is_greedy_without_length_penalty(tiny):
  model, params, images, ids, _ = tiny

  @jax.jit
  def beam_one(params, images, start):
    inputs = _encoded_inputs(model, params, images)
    return decoding.beam_search(decoding.model_step(model, params, **inputs),
                                decoding.init_cache(model, 3, 10, **inputs), start, 10,
                                beam_size=1, eos_id=EOS, alpha=0.0)[0]

  np.testing.assert_array_equal(beam_one(params, images, ids[:, 0]),
                                _greedy(params, images, ids[:, 0]))


@pytest.mark.slow  # 28 s: compiles the COCO variant's train step (B/16, 6-layer decoder).
def test_model_flops_are_xlas_count_less_the_elementwise_work():
  config = caption_fashion_mnist.get_config('data=coco')
  config.input.batch_size = 8
  ours = flops.step_cost(train.Trainer(config, total_steps=1).task, 8).flops
  xla = aot.flops_per_step(config, 8)
  assert 0.97 * xla < ours <= xla  # XLA also counts softmax, GELU, LayerNorm and AdamW.
