"""FT-Transformer: its feature tokenizer by hand, column independence, shapes and size."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from big_uni.models import build_model, ft_transformer


def _tokenizer():
  tokenizer = ft_transformer.FeatureTokenizer(width=4, num_numeric=2, category_sizes=(3, 2))
  numeric, categorical = jnp.array([[0.5, -2.0]]), jnp.array([[2, 1]], jnp.int32)
  params = tokenizer.init(jax.random.PRNGKey(0), numeric, categorical)['params']
  return tokenizer, jax.tree.map(lambda p: np.asarray(p.unbox()), params,
                                 is_leaf=lambda p: hasattr(p, 'unbox'))


def test_numeric_tokens_are_x_times_w_plus_b_and_categorical_their_rows_plus_bias():
  tokenizer, p = _tokenizer()
  tokens = np.asarray(tokenizer.apply({'params': p}, jnp.array([[0.5, -2.0]]),
                                      jnp.array([[2, 1]], jnp.int32)))
  assert tokens.shape == (1, 4, 4)
  np.testing.assert_allclose(tokens[0, 0], 0.5 * p['numeric_weight'][0] + p['numeric_bias'][0],
                             rtol=1e-6)
  np.testing.assert_allclose(tokens[0, 1], -2.0 * p['numeric_weight'][1] + p['numeric_bias'][1],
                             rtol=1e-6)
  # Column 0 has values 0..2 (rows 0..2), column 1 values 0..1 (rows 3..4).
  np.testing.assert_allclose(tokens[0, 2], p['category_embed'][2] + p['category_bias'][0])
  np.testing.assert_allclose(tokens[0, 3], p['category_embed'][4] + p['category_bias'][1])
  bound = 1 / np.sqrt(4)
  assert all(np.abs(v).max() <= bound for v in p.values())  # The paper's uniform init.


def test_changing_one_column_changes_only_its_token():
  tokenizer, p = _tokenizer()
  apply = lambda n, c: np.asarray(tokenizer.apply({'params': p}, jnp.array([n]),
                                                  jnp.array([c], jnp.int32)))[0]
  base = apply([0.5, -2.0], [2, 1])
  for changed, token in ((apply([3.0, -2.0], [2, 1]), 0), (apply([0.5, -2.0], [0, 1]), 2),
                         (apply([0.5, -2.0], [2, 0]), 3)):
    differs = np.abs(changed - base).max(axis=1) > 0
    assert differs.tolist() == [i == token for i in range(4)]


def _model(**fields):
  return build_model(ml_collections.ConfigDict(dict(name='ft_transformer', **fields)))


def test_outputs_per_row_and_a_numeric_only_table():
  for category_sizes, outputs in (((4, 3, 2), 3), ((), 1)):
    model = _model(num_numeric=5, category_sizes=category_sizes, num_outputs=outputs, width=16,
                   depth=2, num_heads=2, mlp_dim=32)
    numeric = jnp.ones((7, 5))
    categorical = jnp.zeros((7, len(category_sizes)), jnp.int32)
    params = model.init(jax.random.PRNGKey(0), numeric, categorical)
    assert model.apply(params, numeric, categorical).shape == (7, outputs)


def test_the_papers_default_size():
  """3 blocks of D 192: 4 * 192^2 + 2 * 192 * 384 weights (+ biases, 2 LayerNorms) each."""
  model = _model(num_numeric=8, category_sizes=(), num_outputs=1)
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 8)),
                          jnp.zeros((1, 0), jnp.int32))
  count = sum(np.prod(p.shape) for p in jax.tree.leaves(params))
  block = 4 * (192 * 192 + 192) + (192 * 384 + 384) + (384 * 192 + 192) + 4 * 192
  tokens = 2 * 8 * 192 + 192  # Numeric weights and biases, [CLS].
  assert count == 3 * block + 2 * 192 + tokens + 192 + 1
