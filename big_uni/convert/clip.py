"""CLIP weights in Hugging Face's `CLIPModel` layout and in OpenAI's (which open_clip keeps)
<-> big_uni CLIP, both towers, projections and the logit scale.

OpenAI's CLIP: pre-LN towers with quick-GELU (open_clip's non-'-quickgelu' models use exact GELU:
set activation='gelu' for them), a LayerNorm before the image encoder, no patch bias, [CLS]
pooled image tower, causal text tower pooled at the end-of-text token (the last real token here),
projections without bias. The two layouts differ in names and in two shapes: OpenAI's fused
q/k/v `in_proj` and its projections stored [in, out] (HF's are Linear weights [out, in]).
HF applies its post_layernorm to the pooled [CLS] only: the pooled output, and so the embeddings,
equal big_uni's; the other tokens of HF's last_hidden_state are before that norm.

Neither state dict records the head counts or the activation. HF's config.json does, and
open_clip's open_clip_config.json does (heads = vision width // head_width, text `heads`,
`quick_gelu`): beside the weights, they are checked against config.model; an OpenAI state dict
alone (OpenAI's own loader assumes 64-wide heads) is read with config.model's values, on trust, and
the load's log line says so.
"""
from big_uni.convert import files, layout

HF_BLOCK = layout.BlockKeys(
    qkv=('self_attn.q_proj.{}', 'self_attn.k_proj.{}', 'self_attn.v_proj.{}'),
    out='self_attn.out_proj.{}', norm1='layer_norm1.{}', norm2='layer_norm2.{}',
    fc1='mlp.fc1.{}', fc2='mlp.fc2.{}')
OPENAI_BLOCK = layout.BlockKeys(
    qkv='attn.in_proj_{}', out='attn.out_proj.{}', norm1='ln_1.{}', norm2='ln_2.{}',
    fc1='mlp.c_fc.{}', fc2='mlp.c_proj.{}', layer_scale=('ls_1.gamma', 'ls_2.gamma'))

HF_IMAGE = layout.ViTKeys(
    patch='vision_model.embeddings.patch_embedding.{}',
    cls='vision_model.embeddings.class_embedding', token_axes=2,
    pos='vision_model.embeddings.position_embedding.weight', pos_axes=1,
    pre_norm='vision_model.pre_layrnorm.{}',  # sic
    blocks='vision_model.encoder.layers.{i}.', block=HF_BLOCK,
    final_norm='vision_model.post_layernorm.{}')
HF_TEXT = layout.TextKeys(
    token='text_model.embeddings.token_embedding.weight',
    position='text_model.embeddings.position_embedding.weight',
    blocks='text_model.encoder.layers.{i}.', block=HF_BLOCK,
    final_norm='text_model.final_layer_norm.{}')
OPENAI_IMAGE = layout.ViTKeys(
    patch='visual.conv1.{}', cls='visual.class_embedding', token_axes=2,
    pos='visual.positional_embedding', pos_axes=1, pre_norm='visual.ln_pre.{}',
    blocks='visual.transformer.resblocks.{i}.', block=OPENAI_BLOCK, final_norm='visual.ln_post.{}')
OPENAI_TEXT = layout.TextKeys(
    token='token_embedding.weight', position='positional_embedding',
    blocks='transformer.resblocks.{i}.', block=OPENAI_BLOCK, final_norm='ln_final.{}')

# Buffers and metadata, not weights.
IGNORE = ('text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids',
          'attn_mask', 'input_resolution', 'context_length', 'vocab_size')
LAYOUTS = ('hf', 'openai')
ACTIVATIONS = {'gelu': 'gelu', 'quick_gelu': 'quick_gelu'}
OPEN_CLIP_CONFIG = 'open_clip_config.json'  # open_clip's model config beside hub weights


def entries(model, kind: str) -> list[layout.Entry]:
  """The table of a `clip.CLIP` module; kind 'hf' (CLIPModel) or 'openai' (OpenAI, open_clip)."""
  if kind not in LAYOUTS:
    raise ValueError(f'CLIP layout {kind!r}: use one of {LAYOUTS}')
  if model.text_pool != 'last' or not model.text.causal:
    raise layout.LayoutError("CLIP's text tower is causal and pooled at its last token: set "
                             "model.text_pool='last' and model.text.causal=True")
  if model.logit_bias_init is not None:
    raise layout.LayoutError('CLIP has no logit bias (SigLIP has): leave logit_bias_init None')
  if kind == 'hf':
    table = layout.vit(model.image, HF_IMAGE, 'image') + layout.text(model.text, HF_TEXT, 'text')
    table += [layout.Entry('image_projection/kernel', 'visual_projection.weight', layout.LINEAR),
              layout.Entry('text_projection/kernel', 'text_projection.weight', layout.LINEAR)]
  else:
    table = (layout.vit(model.image, OPENAI_IMAGE, 'image')
             + layout.text(model.text, OPENAI_TEXT, 'text'))
    table += [layout.Entry('image_projection/kernel', 'visual.proj'),
              layout.Entry('text_projection/kernel', 'text_projection')]
  return table + [layout.Entry('logit_scale', 'logit_scale')]


def _tower_config(tower_width, depth, heads, mlp_dim, activation, eps) -> dict:
  if activation not in ACTIVATIONS:
    raise layout.LayoutError(f'HF CLIP has no activation {activation!r}')
  return dict(hidden_size=tower_width, num_hidden_layers=depth, num_attention_heads=heads,
              intermediate_size=mlp_dim, hidden_act=ACTIVATIONS[activation],
              layer_norm_eps=eps)


def hf_configs(model) -> tuple[dict, dict]:
  """(vision_config, text_config) fields of HF's CLIPConfig that describe `model`."""
  image, text = model.image, model.text
  vision = _tower_config(image.width, image.depth, image.num_heads, image.mlp_dim,
                         image.activation, image.layer_norm_eps)
  vision['patch_size'] = image.patch_size
  block = text.block
  text_config = _tower_config(text.width, text.depth, block.num_heads, block.mlp_dim,
                              block.activation, block.layer_norm_eps)
  text_config.update(vocab_size=text.vocab_size, max_position_embeddings=text.max_len)
  return vision, text_config


def open_clip_values(model_cfg: dict) -> dict:
  """{config field: value} of the towers open_clip builds from its model config
  (open_clip/model.py: vision heads width // head_width, text heads, QuickGELU if quick_gelu)."""
  vision, text = model_cfg.get('vision_cfg', {}), model_cfg.get('text_cfg', {})
  activation = 'quick_gelu' if model_cfg.get('quick_gelu', False) else 'gelu'
  return {'image.num_heads': vision.get('width', 768) // vision.get('head_width', 64),
          'image.activation': activation,
          'text.num_heads': text.get('heads', 8), 'text.activation': activation}


def _check_open_clip(path: str, ours: dict, source: str, names: dict) -> None:
  """`ours` (keys of open_clip_values) against the open_clip_config.json beside the weights, or
  logged as taken on trust without one; `names` {key: the field in the user's config}."""
  config = files.read_config(path, OPEN_CLIP_CONFIG)
  if config is None:
    layout.log_trusted(source, {names[k]: v for k, v in ours.items()},
                       'an OpenAI/open_clip state dict does not record them, and no '
                       f'{OPEN_CLIP_CONFIG} is beside it')
    return
  theirs = open_clip_values(config.get('model_cfg', config))
  wrong = [k for k in ours if ours[k] != theirs[k]]
  if wrong:
    raise layout.LayoutError(f'{source} does not match its {OPEN_CLIP_CONFIG}: set ' + ', '.join(
        f'{names[k]}={theirs[k]!r} (not {ours[k]!r})' for k in wrong))


def load(path: str, model, kind: str) -> dict:
  """Params of the `clip.CLIP` module `model` from a CLIP file in layout `kind`."""
  state = files.read_state_dict(path)
  source = f'the {kind} CLIP at {path}'
  if kind == 'hf':
    theirs = files.read_hf_config(path) or {}
    vision, text = hf_configs(model)
    files.check_hf_config(theirs.get('vision_config'), vision, f'the HF CLIP image tower {path}')
    files.check_hf_config(theirs.get('text_config'), text, f'the HF CLIP text tower {path}')
    files.check_hf_config(theirs or None, {'projection_dim': model.embed_dim},
                          f'the HF CLIP {path}')
  else:
    ours = {'image.num_heads': model.image.num_heads, 'image.activation': model.image.activation,
            'text.num_heads': model.text.block.num_heads,
            'text.activation': model.text.block.activation}
    _check_open_clip(path, ours, source, {k: f'model.{k}' for k in ours})
  return layout.to_params(state, entries(model, kind), ignore=IGNORE, source=source)


def load_image_tower(path: str, image_tower, kind: str) -> dict:
  """{'image': params} of a `vit.ViT` module from a CLIP file: the text tower, projections and
  logit scale stay in the file (e.g. to fine-tune CLIP's image tower as a classifier)."""
  state = files.read_state_dict(path)
  if kind == 'openai':
    ours = {'image.num_heads': image_tower.num_heads, 'image.activation': image_tower.activation}
    _check_open_clip(path, ours, f'the image tower of the OpenAI CLIP at {path}',
                     {k: k.replace('image.', 'model.') for k in ours})
  keys = {'hf': HF_IMAGE, 'openai': OPENAI_IMAGE}[kind]
  table = layout.vit(image_tower, keys, 'image')
  image_keys = keys.blocks.split('{')[0].split('.')[0] + '.'  # 'vision_model.' or 'visual.'
  others = tuple(k for k in state if not k.startswith(image_keys) or k == 'visual.proj')
  return layout.to_params(state, table, ignore=IGNORE + others,
                          source=f'the image tower of the {kind} CLIP at {path}')


def export(params: dict, model, eos_token_id: int) -> tuple[dict, dict]:
  """(state dict, config.json) of HF's CLIPModel. HF pools the text at the first
  `eos_token_id`, big_uni at the last real token: give the id the training tokenizer ends each
  text with (its sep_id; 49407 for OpenAI's BPE)."""
  state = layout.to_state_dict(params, entries(model, 'hf'), target='HF CLIPModel')
  vision, text = hf_configs(model)
  patches = params['image']['pos_embedding'].shape[1] - 1
  vision.update(image_size=int(round(patches ** 0.5)) * model.image.patch_size,
                num_channels=params['image']['patch_embed']['kernel'].shape[2])
  text.update(eos_token_id=eos_token_id)
  config = dict(model_type='clip', architectures=['CLIPModel'], projection_dim=model.embed_dim,
                logit_scale_init_value=float(params['logit_scale']), vision_config=vision,
                text_config=text)
  return state, config
