"""Shared pieces of the weight-conversion tests: random HF models and our params."""
import os

import flax.linen as nn
import jax
import numpy as np

from big_uni import pretrained


def randomize(torch_model, seed=0, scale=0.05):
  """Every param of a freshly built HF model moved off its init (biases and LayerNorms are
  0 and 1 there, which would hide a transposed or misplaced one)."""
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
