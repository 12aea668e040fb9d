"""Each position-embedding resize (vit.RESIZE_METHODS) equals the reference implementation it is
named after: big_vision's resample_posemb (vendored), timm's resample_abs_pos_embed with and
without antialiasing, and HF ViT's interpolate_pos_encoding through a whole forward pass; each
layout defaults to its own source's resize."""
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import errors, pretrained
from big_uni.models import build_model, vit
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

# (old grid, new grid): growing and shrinking, by integer and fractional factors, DINOv2's 37 -> 16.
GRIDS = [(5, 7), (7, 5), (4, 6), (6, 4), (2, 9), (14, 24), (24, 14), (37, 16)]


def _embeddings(old, prefix=1, width=16, seed=0):
  """[1, prefix + old*old, width] in N(0, 1)."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((1, prefix + old * old, width)).astype(np.float32)


@pytest.mark.parametrize('old, new', GRIDS)
def test_big_vision_method_is_big_visions_resample_posemb(old, new):
  bv_vit = helpers.third_party('big_vision.models.vit')
  grid = _embeddings(old, prefix=0)
  theirs = bv_vit.resample_posemb(grid, np.zeros((1, new * new, grid.shape[-1]), np.float32))
  np.testing.assert_array_equal(vit.resize_pos_embedding(grid, new * new, num_prefix=0), theirs)


@pytest.mark.parametrize('antialias', [False, True])
@pytest.mark.parametrize('old, new', GRIDS)
def test_bicubic_methods_are_timms_resample_abs_pos_embed(old, new, antialias):
  timm = helpers.import_timm()
  embeddings = _embeddings(old)
  theirs = timm.layers.resample_abs_pos_embed(torch.tensor(embeddings), [new, new],
                                               num_prefix_tokens=1, antialias=antialias).numpy()
  method = 'bicubic_torch_antialias' if antialias else 'bicubic_torch'
  ours = vit.resize_pos_embedding(embeddings, 1 + new * new, method=method)
  np.testing.assert_array_equal(ours[:, :1], theirs[:, :1])  # [CLS] kept as it is
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)  # float32 rounding of N(0, 1)


def test_methods_differ_where_it_matters():
  """5x5 -> 7x7 (a 32 px model at 56 px, 8 px patches): the three methods are three functions,
  so a layout's default is a real choice."""
  embeddings = _embeddings(5)
  resized = {m: vit.resize_pos_embedding(embeddings, 50, method=m) for m in vit.RESIZE_METHODS}
  for a in resized:
    for b in resized:
      if a < b:
        diff = helpers.max_diff(resized[a], resized[b])
        print(f'{a} vs {b}: max |difference| {diff:.3f}')
        assert diff > 0.05


def test_old_name_is_refused_naming_the_new_ones():
  with pytest.raises(errors.UserInputError,
                     match="resize='bilinear' .* is gone.*'big_vision'.*'bicubic_torch'.*"
                           "'bicubic_torch_antialias'"):
    vit.resize_pos_embedding(_embeddings(5), 50, method='bilinear')
  with pytest.raises(errors.UserInputError, match="resize method 'nearest': use one of"):
    pretrained.resize_method(ml_collections.ConfigDict(dict(kind='hf_vit', resize='nearest')))


def test_every_kind_has_a_default_resize():
  assert set(pretrained.DEFAULT_RESIZE) == set(pretrained.KINDS)
  assert set(pretrained.DEFAULT_RESIZE.values()) <= set(vit.RESIZE_METHODS)
  assert pretrained.resize_method(ml_collections.ConfigDict(dict(kind='big_vision_vit'))) == \
      'big_vision'


def test_hf_vit_resizes_as_interpolate_pos_encoding(tmp_path):
  """An HF ViT file for 32 px run at 48 px: HF's forward with interpolate_pos_encoding=True is
  the reference, and big_uni's default resize for hf_vit gives its logits."""
  config = transformers.ViTConfig(
      hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
      image_size=32, patch_size=8, num_labels=5, layer_norm_eps=1e-12,
      attn_implementation='eager')
  hf_model = helpers.random_hf_model(transformers.ViTForImageClassification, config)
  init = ml_collections.ConfigDict(dict(kind='hf_vit', path=helpers.save_hf(hf_model, tmp_path)))
  model_config = ml_collections.ConfigDict(dict(
      name='vit', variant='B/8', width=64, depth=2, num_heads=4, mlp_dim=128, num_classes=5,
      layer_norm_eps=1e-12))
  images = np.random.default_rng(1).standard_normal((3, 48, 48, 3)).astype(np.float32)
  model = build_model(model_config)
  params = helpers.load_into(model, (jnp.asarray(images),),
                             pretrained.load_source(init, model_config),
                             resize=pretrained.resize_method(init))
  with torch.no_grad():
    theirs = hf_model(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2)),
                      interpolate_pos_encoding=True).logits.numpy()
  diff = helpers.max_diff(model.apply({'params': params}, jnp.asarray(images))[0], theirs)
  print(f'HF ViT 4x4 -> 6x6 positions: max |logits diff| {diff:.2e}')
  assert diff < 1e-5
