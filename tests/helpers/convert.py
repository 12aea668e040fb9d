"""Shared pieces of the weight-conversion tests: random HF models and our params, and the
reference implementations that are not pip packages here (big_vision, vision_transformer, timm)."""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import pretrained
from big_uni.models import build_model
from input_pipeline import wheel_files
from tests.helpers import CI

THIRD_PARTY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'third_party')
TIMM_REQUIREMENT = 'timm==1.0.31'


def random_hf_model(model_class, config, seed=0, scale=0.05):
  """`model_class(config)` built under torch seed `seed`, every param then moved off its init."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  return perturbed_torch_model(model_class(config), seed, scale)


def perturbed_torch_model(torch_model, seed=0, scale=0.05):
  """`torch_model` in eval mode with every param moved off its init (biases and LayerNorms are 0
  and 1 there, which would hide a transposed or misplaced one)."""
  import torch  # pylint: disable=g-import-not-at-top
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for param in torch_model.parameters():
      param.add_(scale * torch.randn(param.shape, generator=generator))
  return torch_model.eval()


def save_hf(torch_model, folder) -> str:
  os.environ['HF_HUB_OFFLINE'] = '1'
  torch_model.save_pretrained(str(folder), safe_serialization=True)
  return str(folder)


def init_params(model, *inputs):
  """Shapes of `model`'s params as numpy zeros (to merge loaded weights into)."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), *inputs)
  return jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), nn.unbox(shapes)['params'])


def load_into(model, inputs, loaded, **merge_options):
  """`loaded` merged into `model`'s params; every param must come from the file."""
  params, fresh = pretrained.merge(init_params(model, *inputs), loaded, **merge_options)
  assert not fresh, fresh
  return params


def random_params(model, *inputs, seed=0):
  """Initialised params with every leaf perturbed (zero-init heads and biases included)."""
  params = nn.unbox(model.init(jax.random.key(seed), *inputs)['params'])
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda x: np.asarray(
      np.asarray(x) + 0.05 * rng.standard_normal(x.shape), np.float32), params)


def max_diff(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def assert_trees_equal(a: dict, b: dict):
  """Same keys, same bits."""
  flat_a, flat_b = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves_with_path(b)
  assert [p for p, _ in flat_a] == [p for p, _ in flat_b]
  for (path, x), (_, y) in zip(flat_a, flat_b):
    assert x.dtype == y.dtype and np.array_equal(x, y), jax.tree_util.keystr(path)


def hf_clip(transformers, vision: dict, text: dict, *, image_size: int, patch_size: int,
            vocab_size: int, text_len: int, eos_token_id: int, embed_dim: int, seed: int = 0):
  """A randomized transformers CLIPModel with OpenAI's choices (quick-GELU, LayerNorm eps 1e-5)
  and towers of our sizes: vision and text are dicts of width, depth, mlp_dim, num_heads."""
  def tower(sizes):
    return dict(hidden_size=sizes['width'], num_hidden_layers=sizes['depth'],
                intermediate_size=sizes['mlp_dim'], num_attention_heads=sizes['num_heads'],
                hidden_act='quick_gelu', layer_norm_eps=1e-5)
  config = transformers.CLIPConfig(
      vision_config=dict(tower(vision), image_size=image_size, patch_size=patch_size),
      text_config=dict(tower(text), vocab_size=vocab_size, max_position_embeddings=text_len,
                       eos_token_id=eos_token_id),
      projection_dim=embed_dim, attn_implementation='eager')
  return random_hf_model(transformers.CLIPModel, config, seed)


def third_party(module: str):
  """A module of the reference code vendored unchanged in tests/third_party (big_vision's
  `big_vision.models.vit`, vision_transformer's `vit_jax.models_vit`; see their READMEs)."""
  if THIRD_PARTY not in sys.path:
    sys.path.insert(0, THIRD_PARTY)
  return importlib.import_module(module)


class _AbsentClass(type):
  """An empty class whose attributes are empty classes (e.g. `InterpolationMode.BICUBIC`)."""

  def __getattr__(cls, name):
    return _AbsentClass(name, (), {})


class _AbsentModule(types.ModuleType):
  """A torchvision module with nothing in it: any name it is asked for is an empty class."""
  __path__ = []

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    return _AbsentClass(name, (), {})


class _TorchvisionFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Serves `torchvision` and its submodules as _AbsentModule."""

  def find_spec(self, fullname, path, target=None):  # pylint: disable=unused-argument
    if fullname == 'torchvision' or fullname.startswith('torchvision.'):
      return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
    return None

  def create_module(self, spec):
    return _AbsentModule(spec.name)

  def exec_module(self, module):
    pass


def import_timm():
  """timm 1.0.31, imported from its pure-Python wheel. `pip install timm` would pull a
  torchvision, and none is built for this CPU torch; timm imports torchvision at start-up for its
  data pipeline (transforms, datasets) and its FrozenBatchNorm2d, none of which a ViT's forward or
  timm's position-embedding resize touches, so torchvision is served as an empty module. A timm
  installed for real is used as it is. Skips (fails under CI) when the wheel cannot be fetched."""
  try:
    return importlib.import_module('timm')
  except ImportError:
    pass
  try:
    wheel = wheel_files.wheel_path(TIMM_REQUIREMENT)
  except FileNotFoundError as e:
    if CI:
      raise
    pytest.skip(str(e))
  if importlib.util.find_spec('torchvision') is None:
    sys.meta_path.append(_TorchvisionFinder())
  sys.path.insert(0, wheel)
  return importlib.import_module('timm')


def load_and_apply(kind: str, path, model_config, images, resize=None):
  """(logits, params) of big_uni's model loaded from the weights file at `path` through
  `config.init` of `kind` (its default resize unless `resize`)."""
  init = ml_collections.ConfigDict(dict(kind=kind, path=str(path)))
  if resize:
    init.resize = resize
  loaded = pretrained.load_source(init, model_config)
  model = build_model(model_config)
  params = load_into(model, (jnp.asarray(images),), loaded,
                     resize=pretrained.resize_method(init))
  return np.asarray(model.apply({'params': params}, jnp.asarray(images))[0]), params
