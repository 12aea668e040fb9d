"""ViT weights from HF transformers and timm's layout reproduce transformers' forward passes, and
exports to HF open in transformers with our outputs (CPU, offline, random weights). big_vision /
AugReg files: test_big_vision.py; timm's own models: test_timm.py."""
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import export, pretrained
from big_uni.convert import files, hf_vit, layout
from big_uni.models import build_model
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

# ViT-B/8's layout at a reduced width and depth: 32 px, 4x4 patches (+ [CLS]).
WIDTH, DEPTH, HEADS, MLP, PATCH, IMAGE, CLASSES = 64, 2, 4, 128, 8, 32, 5


def _model_config(**overrides):
  fields = dict(name='vit', variant='B/8', width=WIDTH, depth=DEPTH, num_heads=HEADS,
                mlp_dim=MLP, num_classes=CLASSES, layer_norm_eps=1e-12)
  return ml_collections.ConfigDict({**fields, **overrides})


def _hf_vit(seed=0):
  config = transformers.ViTConfig(
      hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
      intermediate_size=MLP, image_size=IMAGE, patch_size=PATCH, num_labels=CLASSES,
      layer_norm_eps=1e-12, hidden_act='gelu', attn_implementation='eager')
  return helpers.random_hf_model(transformers.ViTForImageClassification, config, seed)


def _images(batch=3, size=IMAGE):
  return np.random.default_rng(1).standard_normal((batch, size, size, 3)).astype(np.float32)


def _hf_logits(hf_model, images):
  with torch.no_grad():
    return hf_model(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2))).logits.numpy()


def _our_logits(model_config, loaded, images, **merge_options):
  model = build_model(model_config)
  params = helpers.load_into(model, (jnp.asarray(images),), loaded, **merge_options)
  logits, _ = model.apply({'params': params}, jnp.asarray(images))
  return np.asarray(logits), params


def _assert_loads_as(hf_model, kind, path, what):
  """The file at `path`, loaded as `kind`, gives `hf_model`'s logits within 1e-4."""
  images = _images()
  loaded = pretrained.load_source(ml_collections.ConfigDict(dict(kind=kind, path=path)),
                                  _model_config())
  ours, _ = _our_logits(_model_config(), loaded, images)
  diff = helpers.max_diff(ours, _hf_logits(hf_model, images))
  print(f'{what} -> big_uni: max |logits diff| {diff:.2e}')
  assert diff < 1e-4


def test_hf_vit_matches_transformers(tmp_path):
  hf_model = _hf_vit()
  _assert_loads_as(hf_model, 'hf_vit', helpers.save_hf(hf_model, tmp_path / 'hf'), 'HF ViT')


def test_hf_vit_config_mismatch_is_named(tmp_path):
  path = helpers.save_hf(_hf_vit(), tmp_path / 'hf')
  with pytest.raises(layout.LayoutError, match='layer_norm_eps is 1e-12 there, 1e-06 here'):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='hf_vit', path=path)),
                           _model_config(layer_norm_eps=1e-6))
  with pytest.raises(layout.LayoutError, match="pools the \\[CLS\\] token: set model.pool='cls'"):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='hf_vit', path=path)),
                           _model_config(pool='gap'))


def _timm_state_dict(hf_state: dict) -> dict:
  """timm's names for an HF ViTForImageClassification file's tensors: the inverse of HF's own
  convert_vit_timm_to_pytorch.py (create_rename_keys and read_in_q_k_v), so that the layout is
  also checked against transformers, in .pth as well as safetensors (timm's own models:
  test_timm.py)."""
  renames = {'vit.embeddings.cls_token': 'cls_token',
             'vit.embeddings.patch_embeddings.projection.weight': 'patch_embed.proj.weight',
             'vit.embeddings.patch_embeddings.projection.bias': 'patch_embed.proj.bias',
             'vit.embeddings.position_embeddings': 'pos_embed',
             'classifier.weight': 'head.weight', 'classifier.bias': 'head.bias',
             'vit.layernorm.weight': 'norm.weight', 'vit.layernorm.bias': 'norm.bias'}
  for i in range(DEPTH):
    hf, timm = f'vit.encoder.layer.{i}.', f'blocks.{i}.'
    for theirs, ours in (('layernorm_before', 'norm1'), ('attention.output.dense', 'attn.proj'),
                         ('layernorm_after', 'norm2'), ('intermediate.dense', 'mlp.fc1'),
                         ('output.dense', 'mlp.fc2')):
      for p in ('weight', 'bias'):
        renames[f'{hf}{theirs}.{p}'] = f'{timm}{ours}.{p}'
  state = {renames[k]: v for k, v in hf_state.items() if k in renames}
  for i in range(DEPTH):
    hf = f'vit.encoder.layer.{i}.attention.attention.'
    for p in ('weight', 'bias'):
      state[f'blocks.{i}.attn.qkv.{p}'] = np.concatenate(
          [hf_state[f'{hf}{n}.{p}'] for n in ('query', 'key', 'value')])
  assert len(state) == len(hf_state) - 4 * DEPTH  # Three q/k/v pairs fused into one.
  return {k: torch.tensor(v) for k, v in state.items()}


@pytest.mark.parametrize('suffix', ['safetensors', 'pth'])
def test_timm_layout_matches_transformers(tmp_path, suffix):
  hf_model = _hf_vit(seed=2)
  # The file's names (HF's hub layout); transformers 5 renames its modules in memory only.
  state = _timm_state_dict(files.read_state_dict(helpers.save_hf(hf_model, tmp_path / 'hf')))
  path = str(tmp_path / f'vit_timm.{suffix}')
  if suffix == 'pth':
    torch.save(state, path)
  else:
    from safetensors.torch import save_file  # pylint: disable=g-import-not-at-top
    save_file({k: v.contiguous() for k, v in state.items()}, path)
  _assert_loads_as(hf_model, 'timm_vit', path, f'timm ({suffix})')


def test_hf_export_round_trip_and_transformers_forward(tmp_path):
  model_config = _model_config()
  model = build_model(model_config)
  images = _images()
  params = helpers.random_params(model, jnp.asarray(images))
  config = ml_collections.ConfigDict({'model': model_config})
  state, hf_config = export.export_params(params, config)
  files.write_hf(str(tmp_path / 'out'), state, hf_config)
  reloaded = hf_vit.load(str(tmp_path / 'out'), model)
  helpers.assert_trees_equal(reloaded, params)
  hf_model = transformers.ViTForImageClassification.from_pretrained(
      str(tmp_path / 'out'), attn_implementation='eager').eval()
  ours, _ = model.apply({'params': params}, jnp.asarray(images))
  diff = helpers.max_diff(ours, _hf_logits(hf_model, images))
  print(f'big_uni -> HF ViT: max |logits diff| {diff:.2e}')
  assert diff < 1e-4
  assert os.path.exists(tmp_path / 'out' / 'config.json')


def test_export_refuses_what_hf_vit_cannot_hold():
  model_config = _model_config(pool='gap')
  images = _images()
  params = helpers.random_params(build_model(model_config), jnp.asarray(images))
  with pytest.raises(layout.LayoutError, match="pools the \\[CLS\\] token"):
    export.export_params(params, ml_collections.ConfigDict({'model': model_config}))
