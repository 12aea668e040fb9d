"""CLIP weights in HF's CLIPModel layout and in OpenAI's (open_clip's) reproduce transformers'
CLIPModel: both towers, projections and logit scale; export opens in transformers, and an image
tower alone initialises a ViT (CPU, offline, random weights)."""
import json
import logging
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import pretrained
from big_uni.convert import clip, files, layout
from big_uni.models import build_model
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

# OpenAI's layout at a reduced size: 32 px with 8 px patches, 16 text positions, vocab 1000 whose
# last id ends each text (as 49407 does in OpenAI's BPE).
IMAGE, PATCH, TEXT_LEN, VOCAB, EOT = 32, 8, 16, 1000, 999
VISION = dict(width=48, depth=2, mlp_dim=96, num_heads=3)
TEXT = dict(width=32, depth=2, mlp_dim=64, num_heads=2)


def _model_config():
  return ml_collections.ConfigDict(dict(
      name='clip', embed_dim=24, text_pool='last',
      image=dict(variant='B/8', pool='cls', patch_bias=False, pre_norm=True,
                 activation='quick_gelu', layer_norm_eps=1e-5, **VISION),
      text=dict(variant='clip_b', vocab_size=VOCAB, max_len=TEXT_LEN, type_vocab_size=0,
                embed_norm=False, causal=True, norm_first=True, activation='quick_gelu',
                layer_norm_eps=1e-5, **TEXT)))


def _hf_clip(seed=0):
  return helpers.hf_clip(transformers, VISION, TEXT, image_size=IMAGE, patch_size=PATCH,
                         vocab_size=VOCAB, text_len=TEXT_LEN, eos_token_id=EOT, embed_dim=24,
                         seed=seed)


def _inputs():
  rng = np.random.default_rng(3)
  images = rng.standard_normal((3, IMAGE, IMAGE, 3)).astype(np.float32)
  lengths = np.array([16, 9, 4])
  ids = np.zeros((3, TEXT_LEN), np.int64)
  mask = np.arange(TEXT_LEN)[None] < lengths[:, None]
  for row, length in enumerate(lengths):
    ids[row, :length - 1] = rng.integers(1, EOT, length - 1)
    ids[row, length - 1] = EOT
  return images, ids, mask


def _hf_outputs(hf_model, images, ids, mask):
  with torch.no_grad():
    out = hf_model(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2)),
                   input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask.astype(np.int64)))
  normalize = lambda x: (x / x.norm(dim=-1, keepdim=True)).numpy()
  return normalize(out.image_embeds), normalize(out.text_embeds), out.logits_per_image.numpy()


def _our_outputs(model, params, images, ids, mask):
  inputs = (jnp.asarray(images), jnp.asarray(ids, jnp.int32), jnp.asarray(mask))
  image, text = model.apply({'params': params}, *inputs)
  scale, _ = model.apply({'params': params}, method=model.logit_scale_and_bias)
  return np.asarray(image), np.asarray(text), np.asarray(scale * image @ text.T)


def _compare(ours, theirs, what):
  diffs = [helpers.max_diff(a, b) for a, b in zip(ours, theirs)]
  print(f'{what}: max |diff| image embeddings {diffs[0]:.2e}, text embeddings {diffs[1]:.2e}, '
        f'logits {diffs[2]:.2e}')
  assert max(diffs) < 1e-4, diffs


def _load(kind, path):
  model_config = _model_config()
  model = build_model(model_config)
  images, ids, mask = _inputs()
  loaded = pretrained.load_source(ml_collections.ConfigDict(dict(kind=kind, path=path)),
                                  model_config)
  inputs = (jnp.asarray(images), jnp.asarray(ids, jnp.int32), jnp.asarray(mask))
  return model, helpers.load_into(model, inputs, loaded)


def test_hf_clip_matches_transformers(tmp_path):
  hf_model = _hf_clip()
  model, params = _load('hf_clip', helpers.save_hf(hf_model, tmp_path / 'hf'))
  _compare(_our_outputs(model, params, *_inputs()), _hf_outputs(hf_model, *_inputs()),
           'HF CLIP -> big_uni')


def _openai_state_dict(hf_state: dict) -> dict:
  """OpenAI's (and open_clip's) names for an HF CLIPModel file's tensors: the inverse of HF's own
  convert_clip_original_pytorch_to_hf.py, written out here because open_clip needs a
  torchvision that matches this CPU torch, which does not install."""
  out = {'logit_scale': hf_state['logit_scale'],
         'visual.proj': hf_state['visual_projection.weight'].T,
         'text_projection': hf_state['text_projection.weight'].T,
         'token_embedding.weight': hf_state['text_model.embeddings.token_embedding.weight'],
         'positional_embedding': hf_state['text_model.embeddings.position_embedding.weight'],
         'visual.conv1.weight': hf_state['vision_model.embeddings.patch_embedding.weight'],
         'visual.class_embedding': hf_state['vision_model.embeddings.class_embedding'],
         'visual.positional_embedding':
             hf_state['vision_model.embeddings.position_embedding.weight']}
  for ours, theirs in (('ln_final', 'text_model.final_layer_norm'),
                       ('visual.ln_pre', 'vision_model.pre_layrnorm'),
                       ('visual.ln_post', 'vision_model.post_layernorm')):
    for p in ('weight', 'bias'):
      out[f'{ours}.{p}'] = hf_state[f'{theirs}.{p}']
  for openai, hf, depth in (('transformer', 'text_model', TEXT['depth']),
                            ('visual.transformer', 'vision_model', VISION['depth'])):
    for i in range(depth):
      o, h = f'{openai}.resblocks.{i}.', f'{hf}.encoder.layers.{i}.'
      for p in ('weight', 'bias'):
        out[f'{o}attn.in_proj_{p}'] = np.concatenate(
            [hf_state[f'{h}self_attn.{n}_proj.{p}'] for n in 'qkv'])
        for ours, theirs in (('attn.out_proj', 'self_attn.out_proj'), ('ln_1', 'layer_norm1'),
                             ('ln_2', 'layer_norm2'), ('mlp.c_fc', 'mlp.fc1'),
                             ('mlp.c_proj', 'mlp.fc2')):
          out[f'{o}{ours}.{p}'] = hf_state[f'{h}{theirs}.{p}']
  return out


def _write_open_clip(folder, hf_model, **text_cfg) -> str:
  """The HF model's weights as open_clip publishes a model: open_clip_pytorch_model.bin and its
  model config in open_clip_config.json (push_to_hf_hub.save_config_for_hf's layout), whose
  vision heads are width // head_width; `text_cfg` overrides the text tower's entries."""
  hf_state = files.read_state_dict(helpers.save_hf(hf_model, folder / 'hf'))
  state = _openai_state_dict(hf_state)
  state['attn_mask'] = np.triu(np.full((TEXT_LEN, TEXT_LEN), -np.inf, np.float32), 1)
  torch.save({k: torch.tensor(v) for k, v in state.items()}, folder / 'open_clip_pytorch_model.bin')
  model_cfg = dict(
      embed_dim=24, quick_gelu=True,
      vision_cfg=dict(image_size=IMAGE, layers=VISION['depth'], width=VISION['width'],
                      patch_size=PATCH, head_width=VISION['width'] // VISION['num_heads']),
      text_cfg=dict(dict(context_length=TEXT_LEN, vocab_size=VOCAB, width=TEXT['width'],
                         heads=TEXT['num_heads'], layers=TEXT['depth']), **text_cfg))
  (folder / 'open_clip_config.json').write_text(json.dumps(dict(
      model_cfg=model_cfg, preprocess_cfg=dict(mean=[0.5] * 3, std=[0.5] * 3))))
  return str(folder)


def test_openai_layout_matches_transformers(tmp_path):
  hf_model = _hf_clip(seed=1)
  model, params = _load('openai_clip', _write_open_clip(tmp_path, hf_model))
  _compare(_our_outputs(model, params, *_inputs()), _hf_outputs(hf_model, *_inputs()),
           'OpenAI/open_clip layout -> big_uni')


def test_open_clip_config_is_checked_and_a_state_dict_alone_is_trusted(tmp_path, caplog):
  """open_clip_config.json names the head counts and activation: a mismatch is refused with the
  fields to set; without it the load says what it took on trust."""
  path = _write_open_clip(tmp_path, _hf_clip(seed=1), heads=4)
  init = ml_collections.ConfigDict(dict(kind='openai_clip', path=path))
  with pytest.raises(layout.LayoutError, match=r'open_clip_config.json: set '
                                               r'model.text.num_heads=4 \(not 2\)$'):
    pretrained.load_source(init, _model_config())
  vit_config = ml_collections.ConfigDict(dict(_model_config().image.to_dict(), name='vit',
                                              activation='gelu'))
  with pytest.raises(layout.LayoutError, match=r"set model.activation='quick_gelu' \(not 'gelu'\)"):
    pretrained.load_source(init, vit_config)
  os.remove(os.path.join(path, 'open_clip_config.json'))
  with caplog.at_level(logging.WARNING):
    pretrained.load_source(init, _model_config())
  assert ("model.image.num_heads=3, model.image.activation='quick_gelu', model.text.num_heads=2, "
          "model.text.activation='quick_gelu' taken from config.model on trust") in caplog.text


def test_export_round_trip_and_transformers_forward(tmp_path):
  model_config = _model_config()
  model = build_model(model_config)
  images, ids, mask = _inputs()
  params = helpers.random_params(
      model, jnp.asarray(images), jnp.asarray(ids, jnp.int32), jnp.asarray(mask))
  state, hf_config = clip.export(params, model, eos_token_id=EOT)
  files.write_hf(str(tmp_path / 'out'), state, hf_config)
  helpers.assert_trees_equal(clip.load(str(tmp_path / 'out'), model, 'hf'), params)
  hf_model = transformers.CLIPModel.from_pretrained(str(tmp_path / 'out'),
                                                    attn_implementation='eager').eval()
  _compare(_our_outputs(model, params, images, ids, mask),
           _hf_outputs(hf_model, images, ids, mask), 'big_uni -> HF CLIP')


def test_image_tower_initialises_a_vit(tmp_path):
  """CLIP's image tower alone into a ViT classifier (source='image'), its head fresh."""
  hf_model = _hf_clip(seed=2)
  path = helpers.save_hf(hf_model, tmp_path / 'hf')
  vit_config = ml_collections.ConfigDict(dict(_model_config().image.to_dict(), name='vit',
                                              num_classes=4))
  loaded = pretrained.load_source(ml_collections.ConfigDict(dict(kind='hf_clip', path=path)),
                                  vit_config)
  model = build_model(vit_config)
  images, _, _ = _inputs()
  params, fresh = pretrained.merge(helpers.init_params(model, jnp.asarray(images)),
                                   loaded['image'])
  assert fresh == ['head/bias', 'head/kernel']
  _, features = model.apply({'params': params}, jnp.asarray(images))
  with torch.no_grad():
    pooled = hf_model.vision_model(
        pixel_values=torch.tensor(images.transpose(0, 3, 1, 2))).pooler_output.numpy()
  assert helpers.max_diff(features['pre_logits'], pooled) < 1e-4


def test_siglip_and_wrong_pooling_are_refused():
  model_config = _model_config()
  model_config.logit_bias_init = -10.0
  with pytest.raises(layout.LayoutError, match='no logit bias'):
    clip.entries(build_model(model_config), 'hf')
  model_config = _model_config()
  model_config.text_pool = 'mean'
  with pytest.raises(layout.LayoutError, match="text_pool='last'"):
    clip.entries(build_model(model_config), 'openai')
