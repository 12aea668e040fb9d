"""Published weight layouts <-> big_uni params, written as tables of names.

A layout is a list of `Entry(ours, theirs, transform)`: our param path ('/'-separated, as in
`big_uni.trees`), the key of the same array in their file, and the pair of functions that turn
their array into ours and back. Import (`to_params`) and export (`to_state_dict`) read the same
table, so an export followed by an import gives back the same bits, and a key that the table does
not name is an error, never silently dropped.

PyTorch stores a Linear's weight as [out, in]; big_uni's kernels are [in, out], and attention
kernels keep the heads apart: query/key/value [D, N, H], out [N, H, D] (D width, N heads, H head
width). Fused q/k/v matrices ([3D, D], timm and open_clip; [D, 3D], GPT-2's Conv1D) are one key
read by three entries, each taking its third (`part`) along `part_axis`.
"""
import dataclasses
from typing import Callable

import numpy as np
from absl import logging

from big_uni import errors, trees

Array = np.ndarray


@dataclasses.dataclass(frozen=True)
class Transform:
  to_ours: Callable[[Array], Array]
  to_theirs: Callable[[Array], Array]


SAME = Transform(lambda x: x, lambda x: x)
LINEAR = Transform(lambda w: w.T, lambda k: k.T)
# PyTorch conv [out, in, h, w] <-> Flax [h, w, in, out].
CONV = Transform(lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1))


# Position embeddings of the patches only ([1, g*g, D]; big_vision, timm's no_embed_class models
# add them before [CLS] joins, so [CLS] has no position) <-> ours with a zero [CLS] row first.
CLS_WITHOUT_POSITION = Transform(
    lambda x: np.concatenate([np.zeros_like(x[:, :1]), x], axis=1), lambda x: x[:, 1:])


def leading_axes(count: int) -> Transform:
  """Theirs without the leading size-1 axes ours has, e.g. a [CLS] token [D] <-> [1, 1, D]."""
  return Transform(lambda x: x.reshape((1,) * count + x.shape),
                   lambda x: x.reshape(x.shape[count:]))


def heads_in(num_heads: int) -> Transform:
  """q/k/v weight [N*H, D] <-> kernel [D, N, H]."""
  return Transform(lambda w: w.T.reshape(w.shape[1], num_heads, -1),
                   lambda k: k.reshape(k.shape[0], -1).T)


def heads_bias(num_heads: int) -> Transform:
  """q/k/v bias [N*H] <-> [N, H]."""
  return Transform(lambda b: b.reshape(num_heads, -1), lambda b: b.reshape(-1))


def heads_out(num_heads: int) -> Transform:
  """Output weight [D, N*H] <-> kernel [N, H, D]."""
  return Transform(lambda w: w.T.reshape(num_heads, -1, w.shape[0]),
                   lambda k: k.reshape(-1, k.shape[-1]).T)


@dataclasses.dataclass(frozen=True)
class Entry:
  ours: str
  theirs: str
  transform: Transform = SAME
  part: int | None = None  # Which third of a fused [q; k; v] array...
  part_axis: int = 0  # ... along this axis (-1: GPT-2's Conv1D weight [D, 3D]).
  optional: bool = False  # A head: loaded when their file has it, exported when ours does.


@dataclasses.dataclass(frozen=True)
class BlockKeys:
  """Key templates of one encoder block in a PyTorch layout; '{}' is 'weight' or 'bias'
  ('in_proj_{}' style templates work too)."""
  qkv: tuple[str, str, str] | str  # Separate query, key, value templates, or one fused.
  out: str
  norm1: str
  norm2: str
  fc1: str
  fc2: str
  layer_scale: tuple[str, str] | None = None  # Keys of the two branch scales, if any.
  # A decoder block's cross-attention (query, key, value templates; out) and its LayerNorm.
  cross_qkv: tuple[str, str, str] | None = None
  cross_out: str | None = None
  norm_cross: str | None = None


def linear(ours: str, theirs: str, *, bias=True, optional=False) -> list[Entry]:
  entries = [Entry(f'{ours}/kernel', theirs.format('weight'), LINEAR, optional=optional)]
  if bias:
    entries.append(Entry(f'{ours}/bias', theirs.format('bias'), optional=optional))
  return entries


def norm(ours: str, theirs: str, *, optional=False) -> list[Entry]:
  return [Entry(f'{ours}/scale', theirs.format('weight'), optional=optional),
          Entry(f'{ours}/bias', theirs.format('bias'), optional=optional)]


def attention(ours: str, theirs: str, qkv: tuple[str, str, str] | str, out: str,
              num_heads: int) -> list[Entry]:
  """One MultiHeadAttention `ours`; `theirs` is its block's key prefix, `qkv` separate query,
  key, value templates or one fused."""
  entries = []
  for i, name in enumerate(('query', 'key', 'value')):
    fused = isinstance(qkv, str)
    template = theirs + (qkv if fused else qkv[i])
    part = i if fused else None
    entries += [
        Entry(f'{ours}/{name}_kernel', template.format('weight'), heads_in(num_heads), part),
        Entry(f'{ours}/{name}_bias', template.format('bias'), heads_bias(num_heads), part)]
  return entries + [Entry(f'{ours}/out_kernel', theirs + out.format('weight'),
                          heads_out(num_heads)),
                    Entry(f'{ours}/out_bias', theirs + out.format('bias'))]


def block(ours: str, theirs: str, keys: BlockKeys, num_heads: int,
          layer_scale: bool = False) -> list[Entry]:
  """One EncoderBlock; `theirs` is the block's key prefix, e.g. 'encoder.layer.3.'."""
  entries = [
      *attention(f'{ours}/attention', theirs, keys.qkv, keys.out, num_heads),
      *norm(f'{ours}/norm1', theirs + keys.norm1), *norm(f'{ours}/norm2', theirs + keys.norm2),
      *linear(f'{ours}/mlp/fc1', theirs + keys.fc1), *linear(f'{ours}/mlp/fc2', theirs + keys.fc2)]
  if keys.cross_qkv:
    entries += [*attention(f'{ours}/cross_attention', theirs, keys.cross_qkv, keys.cross_out,
                           num_heads),
                *norm(f'{ours}/norm_cross', theirs + keys.norm_cross)]
  if layer_scale:
    if keys.layer_scale is None:
      raise ValueError('this layout has no layer scale: set model.layer_scale_init=0')
    entries += [Entry(f'{ours}/layer_scale1', theirs + keys.layer_scale[0]),
                Entry(f'{ours}/layer_scale2', theirs + keys.layer_scale[1])]
  return entries


def encoder(ours: str, theirs: str, keys: BlockKeys, depth: int, num_heads: int,
            final_norm: str | None, layer_scale: bool = False) -> list[Entry]:
  """An Encoder's blocks (`theirs` with '{i}' for the block index) and final LayerNorm."""
  entries = [e for i in range(depth)
             for e in block(f'{ours}/block{i:02d}', theirs.format(i=i), keys, num_heads,
                            layer_scale)]
  return entries + (norm(f'{ours}/final_norm', final_norm) if final_norm else [])


@dataclasses.dataclass(frozen=True)
class ViTKeys:
  """Where a ViT's params sit in a PyTorch layout (templates as in BlockKeys)."""
  patch: str
  cls: str
  pos: str
  blocks: str  # With '{i}', e.g. 'blocks.{i}.'.
  block: BlockKeys
  final_norm: str
  pre_norm: str | None = None
  head: str | None = None
  token_axes: int = 0  # 2 where their [CLS] token is [D], not [1, 1, D].
  pos_axes: int = 0  # 1 where their position embeddings are [L, D], not [1, L, D].


def vit(model, keys: ViTKeys, ours: str = '') -> list[Entry]:
  """The entries of a `vit.ViT` module `model` (its sizes and options) under our subtree `ours`."""
  if model.pool != 'cls':
    raise LayoutError(f"this layout pools the [CLS] token: set model.pool='cls' (not "
                      f'{model.pool!r})')
  if bool(model.pre_norm) != bool(keys.pre_norm):
    raise LayoutError(f'this layout has {"a" if keys.pre_norm else "no"} LayerNorm before the '
                      f'encoder: set model.pre_norm={bool(keys.pre_norm)}')
  p = f'{ours}/' if ours else ''
  entries = [*linear(f'{p}patch_embed', keys.patch, bias=model.patch_bias)]
  entries[0] = dataclasses.replace(entries[0], transform=CONV)
  entries += [Entry(f'{p}cls_token', keys.cls, leading_axes(keys.token_axes)),
              Entry(f'{p}pos_embedding', keys.pos, leading_axes(keys.pos_axes))]
  if keys.pre_norm:
    entries += norm(f'{p}pre_norm', keys.pre_norm)
  entries += encoder(f'{p}encoder', keys.blocks, keys.block, model.depth, model.num_heads,
                     keys.final_norm, layer_scale=bool(model.layer_scale_init))
  if keys.head:
    entries += linear(f'{p}head', keys.head, optional=True)
  return entries


@dataclasses.dataclass(frozen=True)
class TextKeys:
  """Where a TextEncoder's params sit in a PyTorch layout."""
  token: str
  position: str
  blocks: str
  block: BlockKeys
  final_norm: str | None = None  # Pre-LN towers (CLIP) end with one; post-LN BERT has none.
  segment: str | None = None
  embed_norm: str | None = None


def text(model, keys: TextKeys, ours: str) -> list[Entry]:
  """The entries of a `text.TextEncoder` module `model` under our subtree `ours`."""
  block_config = model.block
  if bool(block_config.norm_first) != bool(keys.final_norm):
    raise LayoutError(f'this layout is {"pre" if keys.final_norm else "post"}-LN: set '
                      f'norm_first={bool(keys.final_norm)} in the text model config')
  entries = [Entry(f'{ours}/token_embed/embedding', keys.token),
             Entry(f'{ours}/position_embed', keys.position)]
  if model.type_vocab_size:
    if not keys.segment:
      raise LayoutError('this layout has no segment embeddings: set type_vocab_size=0')
    entries.append(Entry(f'{ours}/segment_embed/embedding', keys.segment))
  if model.embed_norm:
    if not keys.embed_norm:
      raise LayoutError('this layout has no embedding LayerNorm: set embed_norm=False')
    entries += norm(f'{ours}/embed_layer_norm', keys.embed_norm)
  return entries + encoder(f'{ours}/encoder', keys.blocks, keys.block, model.depth,
                           block_config.num_heads, keys.final_norm,
                           layer_scale=bool(block_config.layer_scale_init))


class LayoutError(errors.UserInputError):
  """A file that does not hold the architecture the config describes."""


def log_trusted(source: str, values: dict, why: str) -> None:
  """The load's log line for what the file does not record (a head count, an activation):
  `values` {config field: value} are taken from config.model as they are."""
  logging.warning('%s: %s taken from config.model on trust: %s', source,
                  ', '.join(f'{k}={v!r}' for k, v in values.items()), why)


def to_params(state: dict[str, Array], entries: list[Entry], *, ignore=(),
              source: str = 'the checkpoint') -> dict:
  """Their {key: array} -> our nested numpy tree. Keys in `ignore` (buffers, a pooler big_uni
  has no use for) may be left over; any other key left over, or a required key missing, means
  the file holds another architecture than the config, and is an error naming the keys."""
  missing = [e.theirs for e in entries if e.theirs not in state and not e.optional]
  if missing:
    raise LayoutError(f'{source} lacks {len(missing)} params that config.model needs, e.g. '
                      f'{missing[:4]}: is it the same architecture (depth, pooling, heads)?')
  used = {e.theirs for e in entries}
  extra = sorted(k for k in state if k not in used and k not in ignore)
  if extra:
    raise LayoutError(f'{source} has {len(extra)} params that config.model lacks, e.g. '
                      f'{extra[:4]}: is config.model the same architecture (depth, pooling, '
                      'heads)?')
  flat = {}
  for e in entries:
    if e.theirs not in state:
      continue
    value = np.asarray(state[e.theirs])
    if e.part is not None:
      value = np.split(value, 3, axis=e.part_axis)[e.part]
    flat[e.ours] = e.transform.to_ours(value)
  return trees.unflatten(flat)


def to_state_dict(params: dict, entries: list[Entry], *, target: str = 'the export') -> dict:
  """Our tree -> their {key: array}. Every param of `params` must be named by the table: one that
  is not (a SigLIP logit bias, a GAP head) has no place in their model, and is an error."""
  flat = {name: np.asarray(value) for name, value in trees.flatten(params).items()}
  named = {e.ours for e in entries}
  unnamed = sorted(name for name in flat if name not in named)
  if unnamed:
    raise LayoutError(f'{target} has no place for {unnamed[:4]} '
                      f'({len(unnamed)} params): that model cannot hold this one')
  state, parts, part_axes = {}, {}, {}
  for e in entries:
    if e.ours not in flat:
      if e.optional:
        continue
      raise LayoutError(f'the params lack {e.ours}, which {target} needs')
    value = e.transform.to_theirs(flat[e.ours])
    if e.part is None:
      state[e.theirs] = value
    else:
      parts.setdefault(e.theirs, {})[e.part] = value
      part_axes[e.theirs] = e.part_axis
  for key, thirds in parts.items():
    state[key] = np.concatenate([thirds[i] for i in range(3)], axis=part_axes[key])
  return {key: np.asarray(value, order='C') for key, value in state.items()}  # 0-d stays 0-d.
