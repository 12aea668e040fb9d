"""big_vision and AugReg ViT checkpoints (.npz of '/'-joined Flax paths) -> big_uni ViT.

Two generations of the same Flax model, told apart by their keys (as timm's npz loader does):
- AugReg / google-research/vision_transformer (`Transformer/encoderblock_N/...`,
  MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3; position embeddings for [CLS] and
  the patches at `Transformer/posembed_input/pos_embedding`);
- big_vision (MultiHeadDotProductAttention_0, LayerNorm_1, MlpBlock_0; `pos_embedding` for the
  patches only, the [CLS] token gets none; `params/` or `params/img/` prefixes; a scanned
  `Transformer/encoderblock/...` with a leading layer axis).
Flax kernels are already big_uni's shapes. MAP-pooled and pre_logits models have no counterpart.
"""
import numpy as np

from big_uni.convert import files, layout

PREFIXES = ('params/img/', 'params/', 'opt/target/', '')
_CLS_WITHOUT_POSITION = layout.Transform(
    lambda x: np.concatenate([np.zeros_like(x[:, :1]), x], axis=1), lambda x: x[:, 1:])


def _strip_prefix(state: dict) -> dict:
  prefix = next(p for p in PREFIXES if f'{p}embedding/kernel' in state or p == '')
  return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def _unscan(state: dict) -> dict:
  """`Transformer/encoderblock/X` [depth, ...] -> `Transformer/encoderblock_i/X`."""
  scanned = 'Transformer/encoderblock/'
  out = {k: v for k, v in state.items() if not k.startswith(scanned)}
  for key, value in state.items():
    if key.startswith(scanned):
      for i, layer in enumerate(value):
        out[f'Transformer/encoderblock_{i}/{key.removeprefix(scanned)}'] = layer
  return out


def entries(model, state: dict) -> list[layout.Entry]:
  """The table for the `vit.ViT` module `model` in the generation `state` is written in."""
  big_vision = 'pos_embedding' in state
  mha, norm2, mlp = ((0, 1, 0) if big_vision else (1, 2, 3))
  table = [layout.Entry('patch_embed/kernel', 'embedding/kernel'),
           layout.Entry('patch_embed/bias', 'embedding/bias')]
  if model.pool == 'cls':
    table.append(layout.Entry('cls_token', 'cls'))
  table.append(layout.Entry('pos_embedding', 'pos_embedding', _CLS_WITHOUT_POSITION)
               if big_vision and model.pool == 'cls' else
               layout.Entry('pos_embedding', 'pos_embedding' if big_vision
                            else 'Transformer/posembed_input/pos_embedding'))
  for i in range(model.depth):
    ours, theirs = f'encoder/block{i:02d}', f'Transformer/encoderblock_{i}'
    attention = f'{theirs}/MultiHeadDotProductAttention_{mha}'
    for name in ('query', 'key', 'value', 'out'):
      table += [layout.Entry(f'{ours}/attention/{name}_kernel', f'{attention}/{name}/kernel'),
                layout.Entry(f'{ours}/attention/{name}_bias', f'{attention}/{name}/bias')]
    for ours_norm, theirs_norm in (('norm1', 'LayerNorm_0'), ('norm2', f'LayerNorm_{norm2}')):
      table += [layout.Entry(f'{ours}/{ours_norm}/{p}', f'{theirs}/{theirs_norm}/{p}')
                for p in ('scale', 'bias')]
    for fc in (0, 1):
      table += [layout.Entry(f'{ours}/mlp/fc{fc + 1}/{p}', f'{theirs}/MlpBlock_{mlp}/Dense_{fc}/{p}')
                for p in ('kernel', 'bias')]
  table += [layout.Entry(f'encoder/final_norm/{p}', f'Transformer/encoder_norm/{p}')
            for p in ('scale', 'bias')]
  table += [layout.Entry(f'head/{p}', f'head/{p}', optional=True) for p in ('kernel', 'bias')]
  return table


def load(path: str, model) -> dict:
  """Params of the `vit.ViT` module `model` from a big_vision / AugReg .npz."""
  state = _unscan(_strip_prefix(files.read_state_dict(path)))
  unsupported = sorted({k.split('/')[0] for k in state if k.startswith(('MAPHead', 'pre_logits'))})
  if unsupported:
    raise layout.LayoutError(f'{path} has {unsupported}, which big_uni ViT lacks (it pools '
                             "[CLS] or the mean: model.pool='cls' or 'gap')")
  if model.layer_scale_init or model.pre_norm or not model.patch_bias:
    raise layout.LayoutError('big_vision ViTs have no layer scale nor pre-encoder LayerNorm, and '
                             'a patch bias: set layer_scale_init=0, pre_norm=False, '
                             'patch_bias=True')
  return layout.to_params(state, entries(model, state), source=f'the big_vision ViT at {path}')
