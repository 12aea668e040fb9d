"""big_vision, AugReg and vision_transformer ViT checkpoints (.npz of '/'-joined Flax paths)
-> big_uni ViT.

One Flax model (google-research/vision_transformer's `models_vit.py`, refactored into big_vision's
`models/vit.py`), saved under several sets of names, read as big_vision's own `vit.load` reads them:
- module names: pre-Linen files (the original ViT and AugReg releases) number submodules across
  classes (`MultiHeadDotProductAttention_1`, `LayerNorm_2`, `MlpBlock_3`), Linen files
  (big_vision; vision_transformer since Flax Linen) per class (`..._0`, `LayerNorm_1`,
  `MlpBlock_0`); Flax's `convert_pre_linen`, which both repositories' loaders call, turns the first
  into the second;
- position embeddings at `Transformer/posembed_input/pos_embedding` (vision_transformer, AugReg),
  `Transformer/pos_embedding` (big_vision before 2022) or `pos_embedding` (big_vision), for [CLS]
  and the patches ([CLS] first) or for the patches only (big_vision adds them before it puts [CLS]
  in front, so [CLS] has no position: a zero row here);
- `params/`, `params/img/` (SigLIP image towers) or `opt/target/` prefixes, and a scanned
  `Transformer/encoderblock/...` with a leading layer axis.
Both repositories compute Flax's default `nn.gelu`, the tanh approximation, and LayerNorms with
epsilon 1e-6: the model must too (`activation='gelu_tanh'`; exact GELU moves the logits by ~4e-4).
Attention kernels keep their heads apart ([D, N, H]), so the file itself says how many heads it has.
Flax kernels are already big_uni's shapes. MAP-pooled and pre_logits models have no counterpart.
"""
import math

import numpy as np
from absl import logging

from big_uni.convert import files, layout

PREFIXES = ('params/img/', 'params/', 'opt/target/', '')
POSITIONS = ('pos_embedding', 'Transformer/pos_embedding',
             'Transformer/posembed_input/pos_embedding')
# What both repositories' ViTs compute that the file does not record: {ViT field: value}.
ARCHITECTURE = {'activation': 'gelu_tanh', 'layer_norm_eps': 1e-6, 'layer_scale_init': 0.0,
                'pre_norm': False, 'patch_bias': True}


def _strip_prefix(state: dict) -> dict:
  prefix = next(p for p in PREFIXES if f'{p}embedding/kernel' in state or p == '')
  return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def _linen_names(state: dict) -> dict:
  """Keys with Linen's per-class module numbers (Flax's convert_pre_linen, as big_vision's and
  vision_transformer's loaders apply it); Linen files come back unchanged."""
  # pylint: disable=g-import-not-at-top
  from flax import traverse_util
  from flax.training import checkpoints
  # pylint: enable=g-import-not-at-top
  tree = checkpoints.convert_pre_linen(traverse_util.unflatten_dict(state, sep='/'))
  return traverse_util.flatten_dict(tree, sep='/')


def _unscan(state: dict) -> dict:
  """`Transformer/encoderblock/X` [depth, ...] -> `Transformer/encoderblock_i/X`."""
  scanned = 'Transformer/encoderblock/'
  out = {k: v for k, v in state.items() if not k.startswith(scanned)}
  for key, value in state.items():
    if key.startswith(scanned):
      for i, layer in enumerate(value):
        out[f'Transformer/encoderblock_{i}/{key.removeprefix(scanned)}'] = layer
  return out


def _positions_first(state: dict, source: str) -> dict:
  """The position embeddings under `pos_embedding`, wherever the file's generation keeps them."""
  found = [k for k in POSITIONS if k in state]
  if len(found) != 1:
    raise layout.LayoutError(f'{source} has {len(found)} position embeddings ({found}), not 1 '
                             f'at one of {POSITIONS}')
  state = dict(state)
  state['pos_embedding'] = state.pop(found[0])
  return state


def _has_cls_position(pos_embedding: np.ndarray) -> bool:
  """[1, L, D]: L = 1 + g*g holds [CLS]'s row, L = g*g the patches' only."""
  return math.isqrt(pos_embedding.shape[1]) ** 2 != pos_embedding.shape[1]


def check_model(model, state: dict, source: str) -> None:
  """Refuses a `vit.ViT` that would compute another function of these weights than big_vision."""
  wrong = {k: v for k, v in ARCHITECTURE.items() if getattr(model, k) != v}
  if wrong:
    raise layout.LayoutError(
        f'{source} is a big_vision/AugReg ViT, which computes Flax\'s nn.gelu (tanh '
        'approximation) and LayerNorm epsilon 1e-6, without layer scale or a LayerNorm before the '
        'encoder: set ' + ', '.join(f'model.{k}={v!r} (not {getattr(model, k)!r})'
                                    for k, v in wrong.items()))
  query = state.get('Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel')
  if query is not None and query.shape[1] != model.num_heads:
    raise layout.LayoutError(f'{source} has {query.shape[1]} attention heads (query kernel '
                             f'{list(query.shape)}): set model.num_heads={query.shape[1]}')
  if model.pool == 'gap' and _has_cls_position(state['pos_embedding']):
    raise layout.LayoutError(f"{source} embeds a [CLS] token's position: set model.pool='cls'")


def entries(model, state: dict) -> list[layout.Entry]:
  """The table, in Linen names, of the `vit.ViT` module `model` for the file's `state`."""
  table = [layout.Entry('patch_embed/kernel', 'embedding/kernel'),
           layout.Entry('patch_embed/bias', 'embedding/bias')]
  if model.pool == 'cls':
    table.append(layout.Entry('cls_token', 'cls'))
  without_cls_row = model.pool == 'cls' and not _has_cls_position(state['pos_embedding'])
  table.append(layout.Entry('pos_embedding', 'pos_embedding',
                            layout.CLS_WITHOUT_POSITION if without_cls_row else layout.SAME))
  for i in range(model.depth):
    ours, theirs = f'encoder/block{i:02d}', f'Transformer/encoderblock_{i}'
    attention = f'{theirs}/MultiHeadDotProductAttention_0'
    for name in ('query', 'key', 'value', 'out'):
      table += [layout.Entry(f'{ours}/attention/{name}_kernel', f'{attention}/{name}/kernel'),
                layout.Entry(f'{ours}/attention/{name}_bias', f'{attention}/{name}/bias')]
    for ours_norm, theirs_norm in (('norm1', 'LayerNorm_0'), ('norm2', 'LayerNorm_1')):
      table += [layout.Entry(f'{ours}/{ours_norm}/{p}', f'{theirs}/{theirs_norm}/{p}')
                for p in ('scale', 'bias')]
    for fc in (0, 1):
      table += [layout.Entry(f'{ours}/mlp/fc{fc + 1}/{p}', f'{theirs}/MlpBlock_0/Dense_{fc}/{p}')
                for p in ('kernel', 'bias')]
  table += [layout.Entry(f'encoder/final_norm/{p}', f'Transformer/encoder_norm/{p}')
            for p in ('scale', 'bias')]
  table += [layout.Entry(f'head/{p}', f'head/{p}', optional=True) for p in ('kernel', 'bias')]
  return table


def read(path: str) -> dict:
  """The file's arrays under big_vision's current names: Linen module numbers, unscanned blocks,
  position embeddings at `pos_embedding` (still with [CLS]'s row where the file has one)."""
  source = f'the big_vision ViT at {path}'
  state = _unscan(_linen_names(_strip_prefix(files.read_state_dict(path))))
  unsupported = sorted({k.split('/')[0] for k in state if k.startswith(('MAPHead', 'pre_logits'))})
  if unsupported:
    raise layout.LayoutError(f'{path} has {unsupported}, which big_uni ViT lacks (it pools '
                             "[CLS] or the mean: model.pool='cls' or 'gap')")
  return _positions_first(state, source)


def load(path: str, model) -> dict:
  """Params of the `vit.ViT` module `model` from a big_vision / AugReg / vision_transformer .npz."""
  source = f'the big_vision ViT at {path}'
  state = read(path)
  check_model(model, state, source)
  logging.info('%s: heads from its kernels; GELU (tanh) and LayerNorm epsilon 1e-6 are '
               "big_vision's", source)
  return layout.to_params(state, entries(model, state), source=source)
