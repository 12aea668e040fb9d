"""Decision Transformer: the causal mask across (R, s, a) triples, behaviour cloning without
returns, shapes, and the paper's gym size."""
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni.models import build_model, decision_transformer

STEPS, STATE_DIM, ACTIONS = 5, 4, 3


def _model(**fields):
  return build_model(ml_collections.ConfigDict(dict(
      name='decision_transformer', state_dim=STATE_DIM, num_actions=ACTIONS, max_timestep=50,
      return_scale=10.0, width=16, depth=2, num_heads=2, mlp_dim=32, **fields)))


def _window(rows: int = 2):
  rng = np.random.default_rng(0)
  return dict(returns_to_go=jnp.asarray(rng.uniform(0, 50, (rows, STEPS)), jnp.float32),
              states=jnp.asarray(rng.standard_normal((rows, STEPS, STATE_DIM)), jnp.float32),
              actions=jnp.asarray(rng.integers(0, ACTIONS, (rows, STEPS)), jnp.int32),
              timesteps=jnp.asarray(np.arange(STEPS) + [[3], [10]][:rows], jnp.int32))


@functools.cache
def _apply(returns=True):
  """-> (apply(**changed inputs) -> logits of the window with them, the window)."""
  model = _model(returns=returns)
  window = _window()
  params = jax.jit(model.init)(jax.random.PRNGKey(0), **window)
  apply = jax.jit(model.apply)
  return lambda **changed: np.asarray(apply(params, **{**window, **changed})), window


def test_action_logits_per_step_with_and_without_returns():
  for returns in (True, False):
    apply, _ = _apply(returns)
    logits = apply()
    assert logits.shape == (2, STEPS, ACTIONS) and logits.dtype == np.float32


def _changed_steps(before, after):
  """The steps [K] whose logits differ in any row."""
  return np.abs(after - before).max(axis=(0, 2)) > 1e-6


@pytest.mark.parametrize('returns', [True, False])
def test_the_prediction_at_s_t_sees_a_t_or_later_tokens_never(returns):
  """a_t, s_{t+1} and R_{t+1} come after s_t in (R_1, s_1, a_1, R_2, ...): changing one changes
  the predictions of a_{t+1} and after, never that of a_t or before."""
  apply, w = _apply(returns)
  base, t = apply(), 2
  changed = _changed_steps(base, apply(actions=w['actions'].at[:, t].set(
      (w['actions'][:, t] + 1) % ACTIONS)))
  assert changed.tolist() == [step > t for step in range(STEPS)]
  changed = _changed_steps(base, apply(states=w['states'].at[:, t + 1].add(1.0)))
  assert changed.tolist() == [step >= t + 1 for step in range(STEPS)]
  if returns:
    changed = _changed_steps(base, apply(returns_to_go=w['returns_to_go'].at[:, t + 1].add(5.0)))
    assert changed.tolist() == [step >= t + 1 for step in range(STEPS)]


def test_the_prediction_at_s_t_reads_r_t():
  """R_t comes before s_t: changing it changes the prediction of a_t and those after."""
  apply, w = _apply()
  changed = _changed_steps(apply(), apply(returns_to_go=w['returns_to_go'].at[:, 2].add(5.0)))
  assert changed.tolist() == [False, False, True, True, True]


def test_behaviour_cloning_has_no_return_input():
  apply, w = _apply(returns=False)
  np.testing.assert_array_equal(apply(), apply(returns_to_go=w['returns_to_go'] * 7.0 + 3.0))
  model = _model(returns=False)
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), **_window())['params']
  assert 'return_embed' not in params and 'state_embed' in params


def test_tokens_interleave_returns_states_actions():
  """Token 3t is R_t's embedding, 3t + 1 s_t's, 3t + 2 a_t's, each plus timestep t's."""
  model, w = _model(), _window()
  params = model.init(jax.random.PRNGKey(0), **w)
  tokens = np.asarray(model.apply(params, **w, method='tokens'))
  p = jax.tree.map(lambda x: x.unbox() if hasattr(x, 'unbox') else x, params['params'],
                   is_leaf=lambda x: hasattr(x, 'unbox'))
  time = np.asarray(p['timestep_embed']['embedding'])[np.asarray(w['timesteps'])]
  dense = lambda name, x: x @ np.asarray(p[name]['kernel']) + np.asarray(p[name]['bias'])
  expected = np.stack([
      dense('return_embed', np.asarray(w['returns_to_go'])[..., None] / 10.0) + time,
      dense('state_embed', np.asarray(w['states'])) + time,
      np.asarray(p['action_embed']['embedding'])[np.asarray(w['actions'])] + time], axis=2)
  np.testing.assert_allclose(tokens, expected.reshape(2, 3 * STEPS, 16), rtol=1e-5, atol=1e-6)


def test_the_papers_gym_size():
  """3 blocks of D 128 (1 head, MLP 512) over CartPole's 4 state dimensions and 2 actions, with
  timesteps up to 500: counted by hand."""
  model = build_model(ml_collections.ConfigDict(dict(
      name='decision_transformer', state_dim=4, num_actions=2, max_timestep=500)))
  assert (model.width, model.depth, model.block.num_heads, model.block.mlp_dim) == (
      128, 3, 1, 512)
  window = {k: jnp.zeros((1, 20, 4) if k == 'states' else (1, 20),
                         jnp.float32 if k in ('states', 'returns_to_go') else jnp.int32)
            for k in ('returns_to_go', 'states', 'actions', 'timesteps')}
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), **window)
  count = sum(np.prod(p.shape) for p in jax.tree.leaves(params))
  block = 4 * (128 * 128 + 128) + (128 * 512 + 512) + (512 * 128 + 128) + 4 * 128
  embeddings = 500 * 128 + (1 + 1) * 128 + (4 + 1) * 128 + 2 * 128  # Time, R, s, a.
  norms_and_head = 2 * 128 + 2 * 128 + (128 * 2 + 2)  # Embedding and final LayerNorms.
  assert count == 3 * block + embeddings + norms_and_head == 660_738
  assert decision_transformer.tokens_per_example(model, {'actions': (64, 20)}) == 60
