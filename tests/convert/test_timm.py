"""timm ViTs load into big_uni ViTs that compute timm's own forward (timm 1.0.31 from its wheel,
tests/helpers/convert.import_timm), including the variants that were refused before: a LayerNorm
before the encoder (`vit_*_clip_*`) and position embeddings without [CLS] (`no_embed_class`,
DeiT-3); the head count, activation and LayerNorm epsilon a state dict does not record are checked
against the model timm's config.json names, or logged as taken on trust."""
import logging

import ml_collections
import numpy as np
import pytest

from big_uni import pretrained
from big_uni.convert import files, layout
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
timm = helpers.import_timm()

# timm's models at a reduced size (the registry's definition, these sizes overridden): 32 px,
# 8 px patches, 64 wide, 2 blocks, 4 heads.
SMALL = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=5)
CLIP = dict(pre_norm=True, patch_bias=False, layer_norm_eps=1e-5)
# timm model: the big_uni config fields that say the same.
MODELS = {
    'vit_base_patch16_224': {},
    'vit_base_patch16_clip_224': CLIP,
    'vit_base_patch16_clip_quickgelu_224': dict(CLIP, activation='quick_gelu'),
    'deit3_small_patch16_224': dict(layer_scale_init=1e-6),  # no_embed_class, layer scale
}
TOLERANCE = 1e-5


def _timm_model(name, seed=0, **overrides):
  torch.manual_seed(seed)
  return helpers.perturbed_torch_model(
      timm.create_model(name, pretrained=False, **{**SMALL, **overrides}), seed)


def _model_config(**overrides):
  fields = dict(name='vit', variant='B/8', width=64, depth=2, num_heads=4, mlp_dim=256,
                num_classes=5)
  return ml_collections.ConfigDict({**fields, **overrides})


def _images(size=32):
  return np.random.default_rng(1).standard_normal((3, size, size, 3)).astype(np.float32)


def _timm_logits(model, images):
  with torch.no_grad():
    return model(torch.tensor(images.transpose(0, 3, 1, 2))).numpy()


def _our_logits(path, model_config, images, resize=None):
  return helpers.load_and_apply('timm_vit', path, model_config, images, resize)[0]


def _save(model, folder) -> str:
  """As timm publishes a model: model.safetensors and a config.json naming it (save_for_hf)."""
  timm.models.save_for_hf(model, str(folder), safe_serialization=True)
  return str(folder)


def _state_dict_alone(model, path) -> str:
  from safetensors.torch import save_file  # pylint: disable=g-import-not-at-top
  save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
  return str(path)


@pytest.mark.parametrize('name', list(MODELS))
def test_timm_file_computes_timms_forward(tmp_path, name):
  model = _timm_model(name)
  images = _images()
  ours = _our_logits(_save(model, tmp_path / name), _model_config(**MODELS[name]), images)
  diff = helpers.max_diff(ours, _timm_logits(model, images))
  print(f'timm {name} -> big_uni: max |logits diff| {diff:.2e}')
  assert diff < TOLERANCE


@pytest.mark.parametrize('name', ['vit_base_patch16_224', 'deit3_small_patch16_224'])
def test_positions_resize_as_timm_resizes(tmp_path, name):
  """The 32 px file into a 48 px model: timm's own load at img_size=48 (checkpoint_filter_fn,
  bicubic with antialiasing) is the reference; big_uni's default for timm files matches it, and
  bicubic without antialiasing (HF's) would not."""
  path = _save(_timm_model(name), tmp_path / name)
  bigger = timm.create_model(name, pretrained=False, **dict(SMALL, img_size=48))
  state = {k: torch.tensor(v) for k, v in files.read_state_dict(path).items()}
  bigger.load_state_dict(timm.models.vision_transformer.checkpoint_filter_fn(state, bigger))
  images, model_config = _images(48), _model_config(**MODELS[name])
  logits, params = helpers.load_and_apply('timm_vit', path, model_config, images)
  diff = helpers.max_diff(logits, _timm_logits(bigger.eval(), images))
  print(f'timm {name} 4x4 -> 6x6 positions: max |logits diff| {diff:.2e}')
  assert diff < TOLERANCE
  theirs = bigger.pos_embed.detach().numpy()
  patches_only = theirs.shape[1] == 36  # no_embed_class: ours has a zero [CLS] row first.
  ours = params['pos_embedding'][:, int(patches_only):]
  assert helpers.max_diff(ours, theirs) < 1e-6
  _, without_antialias = helpers.load_and_apply('timm_vit', path, model_config, images, 'bicubic_torch')
  assert helpers.max_diff(without_antialias['pos_embedding'][:, int(patches_only):], theirs) > 1e-3


def test_head_count_is_checked_against_the_named_model(tmp_path):
  path = _save(_timm_model('vit_base_patch16_224'), tmp_path / 'vit')
  with pytest.raises(layout.LayoutError,
                     match=r"is timm's vit_base_patch16_224: set model.num_heads=4 \(not 8\)"):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='timm_vit', path=path)),
                           _model_config(num_heads=8))
  with pytest.raises(layout.LayoutError, match=r"set model.activation='quick_gelu' \(not 'gelu'\)"):
    pretrained.load_source(
        ml_collections.ConfigDict(dict(kind='timm_vit', path=_save(
            _timm_model('vit_base_patch16_clip_quickgelu_224'), tmp_path / 'quick'))),
        _model_config(**CLIP))


def test_a_state_dict_alone_loads_on_trust_and_says_so(tmp_path, caplog):
  """Without a config.json nothing records the head count: 8 heads instead of 4 loads (and
  computes another function), and the log line names what was taken on trust."""
  model = _timm_model('vit_base_patch16_224')
  path = _state_dict_alone(model, tmp_path / 'vit.safetensors')
  images = _images()
  with caplog.at_level(logging.WARNING):
    ours = _our_logits(path, _model_config(num_heads=8), images)
  assert "num_heads=8, activation='gelu', layer_norm_eps=1e-06 taken from config.model on " \
         'trust' in caplog.text
  diff = helpers.max_diff(ours, _timm_logits(model, images))
  print(f'timm file read with 8 heads instead of 4: max |logits diff| {diff:.2e}')
  assert diff > 100 * TOLERANCE


def test_architecture_the_file_shows_is_named(tmp_path):
  path = _save(_timm_model('vit_base_patch16_clip_224'), tmp_path / 'clip')
  with pytest.raises(layout.LayoutError,
                     match=r'set model.pre_norm=True \(norm_pre\), model.patch_bias=False$'):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='timm_vit', path=path)),
                           _model_config(layer_norm_eps=1e-5))


def test_register_tokens_are_refused_with_the_reason(tmp_path):
  path = _save(_timm_model('vit_small_patch14_reg4_dinov2'), tmp_path / 'reg')
  with pytest.raises(layout.LayoutError, match=r'cannot load: it has register tokens'):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='timm_vit', path=path)),
                           _model_config(layer_scale_init=1e-5))
