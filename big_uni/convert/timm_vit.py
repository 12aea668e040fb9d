"""timm `VisionTransformer` state dicts (`vit_*`, `deit3_*`; safetensors, or .pth through
`torch.load(weights_only=True)`) -> big_uni ViT.

timm's layout (that of HF's convert_vit_timm_to_pytorch.py): fused qkv [3D, D], `norm` after the
last block, `head` on the [CLS] token. What the file shows of the architecture must be in
config.model, and is named when it is not:
- `norm_pre`, a LayerNorm before the encoder (the `vit_*_clip_*` models, whose patch embedding has
  no bias): model.pre_norm=True, model.patch_bias=False;
- `ls1`/`ls2.gamma` layer scales (DINOv2, DeiT-3): a nonzero model.layer_scale_init;
- position embeddings for the patches only (`no_embed_class`, e.g. DeiT-3: [CLS] joins after
  them, so it has no position; a zero row here, as for big_vision).
Refused with the reason: average-pooled models (`fc_norm` normalises after pooling, big_uni's GAP
before it), register tokens (`reg_token`) and attention-pooling heads (`attn_pool`).

The state dict records shapes only: not the head count, the activation nor the LayerNorm epsilon.
Where a config.json beside the weights names timm's model (`architecture` and `model_args`, as
timm's save_for_hf and the Hugging Face hub write it) and timm is installed, they are read from
timm's own definition of that model and must match config.model; otherwise they are taken from
config.model on trust, and the load says so in its log line.
"""
import dataclasses
import math

from absl import logging

from big_uni.convert import files, layout

BLOCK = layout.BlockKeys(qkv='attn.qkv.{}', out='attn.proj.{}', norm1='norm1.{}',
                         norm2='norm2.{}', fc1='mlp.fc1.{}', fc2='mlp.fc2.{}',
                         layer_scale=('ls1.gamma', 'ls2.gamma'))
KEYS = layout.ViTKeys(patch='patch_embed.proj.{}', cls='cls_token', pos='pos_embed',
                      blocks='blocks.{i}.', block=BLOCK, final_norm='norm.{}', head='head.{}')
# timm's activation modules (class name) -> big_uni's activation.
ACTIVATIONS = {'GELUTanh': 'gelu_tanh', 'QuickGELU': 'quick_gelu', 'GELU': 'gelu'}
TRUSTED = ('num_heads', 'activation', 'layer_norm_eps')  # What a state dict does not record.


def _refuse_unsupported(state: dict, source: str) -> None:
  reasons = {'fc_norm.weight': "it is average-pooled with a LayerNorm after pooling (fc_norm); "
                               "big_uni's GAP normalises before it",
             'reg_token': 'it has register tokens (reg_token), which big_uni\'s ViT lacks',
             'attn_pool.latent': "it pools with attention (attn_pool), which big_uni's ViT lacks"}
  for key, reason in reasons.items():
    if key in state:
      raise layout.LayoutError(f'{source} cannot load: {reason}')


def _check_shown_architecture(state: dict, model, source: str) -> None:
  """The parts of the architecture that the state dict's keys show, against `model`."""
  shown = {'pre_norm': 'norm_pre.weight' in state,
           'patch_bias': 'patch_embed.proj.bias' in state,
           'layer_scale_init': 'blocks.0.ls1.gamma' in state}
  ours = {'pre_norm': bool(model.pre_norm), 'patch_bias': bool(model.patch_bias),
          'layer_scale_init': bool(model.layer_scale_init)}
  wrong = [k for k in shown if shown[k] != ours[k]]
  if not wrong:
    return
  settings = {'pre_norm': f'model.pre_norm={shown["pre_norm"]} (norm_pre)',
              'patch_bias': f'model.patch_bias={shown["patch_bias"]}',
              'layer_scale_init': ('a nonzero model.layer_scale_init (ls1/ls2; the loaded scales '
                                   'replace it)' if shown['layer_scale_init']
                                   else 'model.layer_scale_init=0 (no ls1/ls2)')}
  raise layout.LayoutError(f'{source} does not match config.model: set '
                           + ', '.join(settings[k] for k in wrong))


def timm_definition(config: dict) -> dict | None:
  """{num_heads, activation, layer_norm_eps} of timm's own model that `config` (timm's
  config.json) names, built on PyTorch's meta device (no memory, no init); None without timm."""
  try:
    # pylint: disable=g-import-not-at-top
    import timm
    import torch
    # pylint: enable=g-import-not-at-top
  except ImportError:
    return None
  try:
    with torch.device('meta'):
      model = timm.create_model(config['architecture'], pretrained=False,
                                **config.get('model_args', {}))
  except RuntimeError as e:  # timm's "Unknown model".
    raise layout.LayoutError(f"timm does not know config.json's model: {e}") from e
  act = model.blocks[0].mlp.act
  name = type(act).__name__
  if name == 'GELU' and getattr(act, 'approximate', 'none') == 'tanh':
    name = 'GELUTanh'
  return {'num_heads': model.blocks[0].attn.num_heads,
          'activation': ACTIVATIONS.get(name, name),
          'layer_norm_eps': model.norm.eps}


def _check_named_model(path: str, model, source: str) -> None:
  """Checks TRUSTED against timm's definition of the model the config.json names, or logs that
  they are taken on trust."""
  config = files.read_hf_config(path)
  named = config.get('architecture') if config else None
  definition = timm_definition(config) if named else None
  ours = {k: getattr(model, k) for k in TRUSTED}
  if definition is None:
    layout.log_trusted(source, ours, 'a state dict does not record them, and ' + (
        f'timm, which defines {named}, is not installed' if named
        else "no config.json beside it names timm's model"))
    return
  wrong = {k: v for k, v in definition.items() if ours[k] != v}
  if wrong:
    raise layout.LayoutError(f"{source} is timm's {named}: set " + ', '.join(
        f'model.{k}={v!r} (not {ours[k]!r})' for k, v in wrong.items()))
  logging.info("%s: %s as in timm's %s", source,
               ', '.join(f'{k}={v!r}' for k, v in definition.items()), named)


def entries(model, state: dict) -> list[layout.Entry]:
  """The table of the `vit.ViT` module `model` for the timm file `state`."""
  keys = dataclasses.replace(KEYS, pre_norm='norm_pre.{}' if 'norm_pre.weight' in state else None)
  table = layout.vit(model, keys)
  count = state['pos_embed'].shape[1]
  if math.isqrt(count) ** 2 == count:  # no_embed_class: [CLS] joins after the positions.
    table = [dataclasses.replace(e, transform=layout.CLS_WITHOUT_POSITION)
             if e.ours == 'pos_embedding' else e for e in table]
  return table


def load(path: str, model) -> dict:
  """Params of the `vit.ViT` module `model` from a timm ViT state dict."""
  source = f'the timm ViT at {path}'
  state = files.read_state_dict(path)
  _refuse_unsupported(state, source)
  _check_shown_architecture(state, model, source)
  _check_named_model(path, model, source)
  return layout.to_params(state, entries(model, state), source=source)
