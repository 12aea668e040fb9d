"""big_uni.analysis.vit on tiny random ViTs; and the attention layers' perturbation hook, which must
change nothing in init and training."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni.analysis import vit as analysis
from big_uni.models import transformer, vit
from big_uni.tasks import classification

IMAGES = np.random.default_rng(0).standard_normal((3, 16, 16, 2)).astype(np.float32)


def _tiny(pool='cls', **fields):
  """A 2-layer ViT with 3 classes on 16 x 16 images: a 4 x 4 grid of 4-pixel patches."""
  fields = dict(num_classes=3, width=16, depth=2, mlp_dim=32, num_heads=2, patch_size=4,
                pool=pool, **fields)
  return vit.ViT(**fields)


def _random_params(model, seed=0, images=IMAGES):
  """Init, then every leaf random (the zero-initialised head and [CLS] would make the tests
  trivial)."""
  params = nn.unbox(model.init(jax.random.key(seed), images[:1]))['params']
  leaves, treedef = jax.tree.flatten(params)
  rng = np.random.default_rng(seed)
  return jax.tree.unflatten(treedef, [
      jnp.asarray(rng.standard_normal(x.shape) * 0.5, jnp.float32) for x in leaves])


@pytest.mark.parametrize('pool', ['cls', 'gap'])
def test_attention_maps_rows_sum_to_one(pool):
  model = _tiny(pool)
  maps = analysis.attention_maps(model, _random_params(model), IMAGES)
  tokens = 16 + (pool == 'cls')
  assert maps.shape == (2, 3, 2, tokens, tokens) and maps.dtype == np.float32
  assert (maps >= 0).all()
  np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)


def test_scanned_params_give_the_same_maps():
  model = _tiny()
  params = _random_params(model)
  scanned = _tiny(scan_layers=True, attention_impl='cudnn')  # Forced back to XLA, unscanned.
  np.testing.assert_allclose(
      analysis.attention_maps(scanned, transformer.stack_layers(params), IMAGES),
      analysis.attention_maps(model, params, IMAGES), atol=1e-6)


def test_rollout_rows_sum_to_one_and_single_layer_formula():
  model = _tiny()
  maps = analysis.attention_maps(model, _random_params(model), IMAGES)
  rollout = analysis.attention_rollout(maps)
  assert rollout.shape == (3, 17, 17)
  np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-5)
  # One layer: the heads' mean mixed half and half with the identity (rows already sum to 1).
  np.testing.assert_allclose(analysis.attention_rollout(maps[:1]),
                             0.5 * maps[0].mean(1) + 0.5 * np.eye(17), atol=1e-6)


@pytest.mark.parametrize('pool', ['cls', 'gap'])
def test_relevance_is_non_negative_with_max_one(pool):
  model = _tiny(pool)
  params = _random_params(model)
  maps = analysis.relevance(model, params, IMAGES)
  assert maps.shape == (3, 4, 4) and maps.dtype == np.float32
  assert (maps >= 0).all()
  np.testing.assert_array_equal(maps.max((1, 2)), 1.0)
  logits, _ = model.apply({'params': params}, IMAGES)
  np.testing.assert_array_equal(
      analysis.relevance(model, params, IMAGES, target=np.asarray(logits.argmax(-1))), maps)


def _unattended_patch_model(hidden=4):
  """A [CLS] ViT on 3 x 3 one-pixel patches whose attention never reaches patch 4 (the centre):
  its position embedding alone has a component along u, every other token (and every branch
  output) is orthogonal to u, and the keys are -1e4 * (normalised token . u), so patch 4's
  logits are -1e4 or lower in every layer and its weights exactly 0. The logits therefore do not
  depend on pixel 4 at all, and on every other pixel they do."""
  u, w, z = (np.array(v, np.float32) for v in ([1, -1, 0, 0], [0, 0, 1, -1], [1, 1, -1, -1]))
  u_hat = u / np.linalg.norm(u)
  off_u = np.eye(4, dtype=np.float32) - np.outer(u_hat, u_hat)
  model = vit.ViT(num_classes=3, width=4, depth=2, mlp_dim=8, num_heads=1, patch_size=1)
  rng = np.random.default_rng(1)
  params = _random_params(model, images=np.zeros((1, 3, 3, 1), np.float32))
  pos = np.tile(3 * w, (10, 1))
  pos[1 + 4] = 3 * u
  params.update(cls_token=np.zeros((1, 1, 4), np.float32), pos_embedding=pos[None],
                patch_embed={'kernel': 0.5 * z.reshape(1, 1, 1, 4), 'bias': np.zeros(4)})
  for block in params['encoder'].values():
    if 'attention' not in block:
      continue
    block['norm1'] = {'scale': np.ones(4), 'bias': np.zeros(4)}  # Keeps u apart.
    attention = block['attention']
    attention.update(
        query_kernel=np.zeros((4, 1, hidden)), query_bias=np.ones((1, hidden)),
        key_kernel=np.tile(-1e4 * u_hat[:, None, None], (1, 1, hidden)),
        key_bias=np.zeros((1, hidden)),
        out_kernel=rng.standard_normal((1, hidden, 4)) @ off_u,
        out_bias=off_u @ rng.standard_normal(4))
    block['mlp']['fc2'] = {'kernel': rng.standard_normal((8, 4)) @ off_u,
                           'bias': off_u @ rng.standard_normal(4)}
  return model, jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)


def test_relevance_is_zero_where_the_logit_does_not_depend_on_the_patch():
  model, params = _unattended_patch_model()
  images = np.random.default_rng(2).uniform(0.5, 1.5, (2, 3, 3, 1)).astype(np.float32)
  maps = analysis.attention_maps(model, params, images)
  assert (maps[..., 1 + 4] == 0).all() and (maps[..., 1 + 3] > 0).all()
  logits = model.apply({'params': params}, images)[0]
  target = np.asarray(logits.argmax(-1))
  pixel_grads = jax.grad(lambda x: jnp.take_along_axis(
      model.apply({'params': params}, x)[0], target[:, None], 1).sum())(images)[..., 0]
  assert (pixel_grads.reshape(2, 9)[:, 4] == 0).all()
  assert (np.delete(pixel_grads.reshape(2, 9), 4, axis=1) != 0).all()
  relevance = analysis.relevance(model, params, images)
  assert (relevance[:, 1, 1] == 0).all()
  np.testing.assert_array_equal(relevance.max((1, 2)), 1.0)


def test_attention_gradient_from_the_perturbation_hook():
  """dY/dA from the zero perturbations agrees with a finite difference along a random direction
  (so the hook sits where the weights multiply the values)."""
  model = _tiny()
  params = _random_params(model)
  _, state = model.apply({'params': params}, IMAGES, mutable=['perturbations'])
  zeros = state['perturbations']

  def logit(perturbations):
    return model.apply({'params': params, 'perturbations': perturbations}, IMAGES)[0][:, 1].sum()

  gradient = jax.grad(logit)(zeros)
  direction = jax.tree.map(
      lambda x: jnp.asarray(np.random.default_rng(3).standard_normal(x.shape), jnp.float32),
      zeros)
  step = 1e-3
  moved = jax.tree.map(lambda d: step * d, direction)
  expected = sum(jax.tree.leaves(jax.tree.map(lambda g, d: (g * d).sum(), gradient, direction)))
  np.testing.assert_allclose((logit(moved) - logit(jax.tree.map(lambda d: -d, moved))) / (2 * step),
                             expected, rtol=2e-2)


def test_position_similarity_peaks_at_its_own_patch():
  pos = np.random.default_rng(4).standard_normal((1, 1 + 25, 8)) * 3 + 0.5
  similarity = analysis.position_similarity(pos, num_prefix=1)
  assert similarity.shape == (5, 5, 5, 5)
  np.testing.assert_allclose(np.einsum('ijij->ij', similarity), 1.0, atol=1e-6)
  assert (similarity <= 1 + 1e-6).all() and (similarity >= -1 - 1e-6).all()
  for (i, j) in np.ndindex(5, 5):
    assert np.unravel_index(similarity[i, j].argmax(), (5, 5)) == (i, j)
  with pytest.raises(ValueError, match='not a square grid'):
    analysis.position_similarity(pos, num_prefix=0)


def test_mean_attention_distance_uniform_2x2_by_hand():
  # [CLS] + 2 x 2 patches of 4 px; uniform attention over all 5 tokens. Without [CLS] each
  # query weighs the 4 patches equally: distances 0, 4, 4 and 4*sqrt(2) px.
  maps = np.full((1, 2, 3, 5, 5), 0.2, np.float32)
  distance = analysis.mean_attention_distance(maps, patch_size=4, num_prefix=1)
  assert distance.shape == (1, 3)
  np.testing.assert_allclose(distance, (4 + 4 + 4 * np.sqrt(2)) / 4, rtol=1e-6)


def test_mean_attention_distance_of_a_model_is_within_the_image():
  model = _tiny()
  maps = analysis.attention_maps(model, _random_params(model), IMAGES)
  distance = analysis.mean_attention_distance(maps, patch_size=4, num_prefix=1)
  assert distance.shape == (2, 2)
  assert (distance >= 0).all() and (distance <= 16 * np.sqrt(2)).all()
  # Each query attending only to itself: distance 0.
  eye = np.broadcast_to(np.eye(17, dtype=np.float32), maps.shape)
  np.testing.assert_array_equal(analysis.mean_attention_distance(eye, 4, 1), 0.0)


def test_patch_filters():
  kernel = np.random.default_rng(5).standard_normal((4, 4, 3, 40))
  components = analysis.patch_filters(kernel)
  assert components.shape == (28, 4, 4, 3)
  assert components.min() >= 0 and components.max() <= 1
  np.testing.assert_allclose(components.min((1, 2, 3)), 0, atol=1e-6)
  np.testing.assert_allclose(components.max((1, 2, 3)), 1, atol=1e-6)
  raw = analysis.patch_filters(kernel, components=None)
  assert raw.shape == (40, 4, 4, 3)
  seventh = kernel[..., 7]
  np.testing.assert_allclose(raw[7], (seventh - seventh.min()) / np.ptp(seventh), atol=1e-6)
  assert analysis.patch_filters(kernel[..., :5]).shape == (5, 4, 4, 3)


def test_perturbation_hook_changes_nothing_in_init_and_training(monkeypatch):
  model = _tiny(dropout=0.1)
  variables = model.init(jax.random.key(0), IMAGES[:1])
  assert set(variables) == {'params'}
  assert set(model.apply(variables, IMAGES, mutable=['intermediates'])[1]) == {'intermediates'}
  task = classification.ClassificationTask.__new__(classification.ClassificationTask)
  task.model, task.num_classes, task.label_smoothing = model, 3, 0.1
  batch = {'image': IMAGES, 'label': np.array([0, 1, 2], np.int32)}
  params = _random_params(model)

  def loss_and_grads():
    def loss(params):
      total, rows = task.train_sums(params, batch, jax.random.key(1))['loss']
      return total / rows
    return jax.value_and_grad(loss)(params)

  loss, grads = loss_and_grads()
  monkeypatch.setattr(nn.Module, 'perturb', lambda self, name, value, collection=None: value)
  loss_without_hook, grads_without_hook = loss_and_grads()
  assert loss == loss_without_hook
  jax.tree.map(np.testing.assert_array_equal, grads, grads_without_hook)
