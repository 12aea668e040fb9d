"""big_vision, AugReg and vision_transformer .npz files load into big_uni ViTs that compute what
those repositories' own models compute: their code, vendored unchanged in tests/third_party, builds
the model, writes the file and gives the reference logits (CPU, float32, random weights)."""
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import errors, pretrained
from big_uni.convert import layout
from big_uni.models import build_model
from tests.helpers import convert as helpers

bv_vit = helpers.third_party('big_vision.models.vit')
bv_utils = helpers.third_party('big_vision.utils')
vit_jax = helpers.third_party('vit_jax.models_vit')

CLASSES, IMAGE, PATCH = 5, 32, 8
# big_vision configurations of its own: ViT-B/8's layout at width 96 and depth 3, and the real
# Ti/16 (192 wide, 12 deep, 3 heads) at 32 px.
SMALL = dict(width=96, depth=3, mlp_dim=384, num_heads=3)
TOLERANCE = 1e-5


def _images(size=IMAGE, batch=3):
  return np.random.default_rng(1).standard_normal((batch, size, size, 3)).astype(np.float32)


def _perturbed(params, seed=0):
  """Every leaf moved off its init (a zero head or [CLS] would hide a misplaced one)."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda x: np.asarray(x + 0.05 * rng.standard_normal(x.shape), np.float32), params)


def _big_vision_model(pool_type='tok', scan=False, variant=None, **sizes):
  sizes = sizes or ({} if variant else dict(SMALL, patch_size=(PATCH, PATCH)))
  return bv_vit.Model(CLASSES, variant=variant, pool_type=pool_type, scan=scan, **sizes)


def _init(model, size=IMAGE):
  return flax.core.unfreeze(model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)))['params'])


def _save_npz(path, tree) -> str:
  """As big_vision writes a .npz: its tree_flatten_with_names, '/'-joined names."""
  names_and_values, _ = bv_utils.tree_flatten_with_names(tree)
  np.savez(path, **dict(names_and_values))
  return str(path)


def _model_config(pool='cls', **overrides):
  fields = dict(name='vit', variant='B/8', num_classes=CLASSES, pool=pool,
                activation='gelu_tanh', layer_norm_eps=1e-6, **SMALL)
  return ml_collections.ConfigDict({**fields, **overrides})


def _our_logits(path, model_config, images):
  return helpers.load_and_apply('big_vision_vit', path, model_config, images)[0]


def _check(path, model_config, reference_logits, images, what):
  diff = helpers.max_diff(_our_logits(path, model_config, images), reference_logits)
  print(f'{what} -> big_uni: max |logits diff| {diff:.2e}')
  assert diff < TOLERANCE


@pytest.mark.parametrize('what, model_kwargs, prefix, ours', [
    ('B/8 layout, width 96, depth 3, [CLS]', {}, 'params/', {}),
    ('B/8 layout, GAP', dict(pool_type='gap'), '', dict(pool='gap')),
    ('B/8 layout, scanned', dict(scan=True), 'params/', {}),
    ('Ti/16, real size', dict(variant='Ti/16'), '',
     dict(variant='Ti/16', width=192, depth=12, mlp_dim=768, num_heads=3)),
])
def test_big_vision_npz_computes_big_visions_forward(tmp_path, what, model_kwargs, prefix, ours):
  model = _big_vision_model(**model_kwargs)
  params = _perturbed(_init(model))
  path = _save_npz(tmp_path / 'vit.npz', {prefix.strip('/'): params} if prefix else params)
  # The file is one big_vision itself reads back, unchanged.
  helpers.assert_trees_equal(bv_vit.load(_init(model), path, {'scan': model.scan}),
                             flax.core.unfreeze(params))
  images = _images()
  reference = np.asarray(model.apply({'params': params}, images)[0])
  _check(path, _model_config(**ours), reference, images, f'big_vision {what}')


def test_big_vision_before_2022_keeps_positions_in_the_encoder(tmp_path):
  """big_vision's ViT before 2022 kept `pos_embedding` under `Transformer/` (its loader's
  fix_old_checkpoints still reads such files)."""
  model = _big_vision_model()
  params = _perturbed(_init(model))
  old = dict(params, Transformer=dict(params['Transformer'], pos_embedding=params['pos_embedding']))
  del old['pos_embedding']
  path = _save_npz(tmp_path / 'old.npz', old)
  helpers.assert_trees_equal(bv_vit.load(_init(model), path, {}), flax.core.unfreeze(params))
  images = _images()
  _check(path, _model_config(), np.asarray(model.apply({'params': params}, images)[0]), images,
         'big_vision (pre-2022 names)')


def _vit_jax_model(classifier):
  return vit_jax.VisionTransformer(
      num_classes=CLASSES, patches=ml_collections.ConfigDict({'size': (PATCH, PATCH)}),
      hidden_size=SMALL['width'], classifier=classifier,
      transformer=dict(num_layers=SMALL['depth'], mlp_dim=SMALL['mlp_dim'],
                       num_heads=SMALL['num_heads'], dropout_rate=0.0,
                       attention_dropout_rate=0.0))


def _pre_linen_names(flat: dict) -> dict:
  """The names of the published AugReg/ViT files: pre-Linen Flax numbered a block's submodules
  across classes, in the order they were created (LayerNorm_0, MultiHeadDotProductAttention_1,
  LayerNorm_2, MlpBlock_3)."""
  renames = {'/MultiHeadDotProductAttention_0/': '/MultiHeadDotProductAttention_1/',
             '/LayerNorm_1/': '/LayerNorm_2/', '/MlpBlock_0/': '/MlpBlock_3/'}
  out = {}
  for key, value in flat.items():
    for linen, pre_linen in renames.items():
      key = key.replace(linen, pre_linen)
    out[key] = value
  return out


@pytest.mark.parametrize('names', ['linen', 'pre_linen'])
@pytest.mark.parametrize('classifier', ['token', 'gap'])
def test_vision_transformer_npz_computes_its_forward(tmp_path, names, classifier):
  """vision_transformer's own model, its params saved with Flax's current module names (what its
  code writes today) or with the pre-Linen names of the published AugReg files."""
  model = _vit_jax_model(classifier)
  images = _images()
  params = _perturbed(flax.core.unfreeze(
      model.init(jax.random.key(0), jnp.zeros((1, IMAGE, IMAGE, 3)), train=False)['params']))
  flat = flax.traverse_util.flatten_dict(params, sep='/')
  if names == 'pre_linen':
    flat = _pre_linen_names(flat)
    assert 'Transformer/encoderblock_0/MlpBlock_3/Dense_1/kernel' in flat
  path = str(tmp_path / 'augreg.npz')
  np.savez(path, **flat)
  reference = np.asarray(model.apply({'params': params}, images, train=False))
  _check(path, _model_config(pool='cls' if classifier == 'token' else 'gap'), reference, images,
         f'vision_transformer ({names} names, {classifier})')


def test_exact_gelu_is_refused_and_would_be_off(tmp_path):
  """big_vision computes nn.gelu's tanh approximation: the default exact GELU is refused with the
  field to set, and would move the logits by more than the tolerance of the tests above."""
  model = _big_vision_model()
  params = _perturbed(_init(model))
  path = _save_npz(tmp_path / 'vit.npz', params)
  init = ml_collections.ConfigDict(dict(kind='big_vision_vit', path=path))
  with pytest.raises(layout.LayoutError, match=r"set model.activation='gelu_tanh' \(not 'gelu'\)"):
    pretrained.load_source(init, _model_config(activation='gelu'))
  images = _images()
  loaded = pretrained.load_source(init, _model_config())
  exact = build_model(_model_config(activation='gelu'))
  ours = helpers.load_into(exact, (jnp.asarray(images),), loaded)
  diff = helpers.max_diff(exact.apply({'params': ours}, jnp.asarray(images))[0],
                          model.apply({'params': params}, images)[0])
  print(f'big_vision weights under exact GELU: max |logits diff| {diff:.2e}')
  assert diff > 5 * TOLERANCE


def test_head_count_comes_from_the_file(tmp_path):
  path = _save_npz(tmp_path / 'vit.npz', _init(_big_vision_model()))
  with pytest.raises(layout.LayoutError, match=r'has 3 attention heads .*set model.num_heads=3'):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='big_vision_vit', path=path)),
                           _model_config(num_heads=4))


def test_position_embeddings_resize_as_big_vision_resizes(tmp_path):
  """A 4x4-patch file into a model at 56 px (7x7 patches): big_vision's own loader (vit.load,
  resample_posemb) gives the reference; big_uni's default resize for this layout gives its
  position embeddings bit for bit, and torch's bicubic (HF's) would not."""
  small = _big_vision_model()
  path = _save_npz(tmp_path / 'vit.npz', _perturbed(_init(small)))
  size = 56
  big_vision_params = bv_vit.load(_init(small, size), path, {})
  images = _images(size)
  logits, params = helpers.load_and_apply('big_vision_vit', path, _model_config(), images)
  diff = helpers.max_diff(logits, small.apply({'params': big_vision_params}, images)[0])
  print(f'big_vision 4x4 -> 7x7 positions: max |logits diff| {diff:.2e}')
  assert diff < TOLERANCE
  theirs = big_vision_params['pos_embedding']  # The patches' only: ours has [CLS]'s zero row.
  np.testing.assert_array_equal(params['pos_embedding'][:, 1:], theirs)
  _, bicubic = helpers.load_and_apply('big_vision_vit', path, _model_config(), images, 'bicubic_torch')
  assert helpers.max_diff(bicubic['pos_embedding'][:, 1:], theirs) > 1e-3
  with pytest.raises(errors.UserInputError, match="'big_vision': scipy.ndimage.zoom"):
    helpers.load_and_apply('big_vision_vit', path, _model_config(), images, 'bilinear')


def test_gap_model_resizes_positions_and_takes_a_new_head(tmp_path):
  """A GAP file (no [CLS]) into a GAP model at 48 px with 7 classes, from the config: the 4x4
  position embeddings resized to 6x6 by big_vision's own resample_posemb, the head left fresh by
  dont_load."""
  params = _perturbed(_init(_big_vision_model(pool_type='gap')))
  path = _save_npz(tmp_path / 'gap.npz', params)
  bigger = _model_config(pool='gap', num_classes=7)
  loaded = pretrained.load_source(
      ml_collections.ConfigDict(dict(kind='big_vision_vit', path=path)), bigger)
  shapes = helpers.init_params(build_model(bigger), jnp.asarray(_images(48)))
  merged, fresh = pretrained.merge(shapes, loaded, dont_load=('head/.*',))
  assert fresh == ['head/bias', 'head/kernel']
  np.testing.assert_array_equal(
      merged['pos_embedding'],
      bv_vit.resample_posemb(params['pos_embedding'], np.zeros((1, 36, SMALL['width']))))
