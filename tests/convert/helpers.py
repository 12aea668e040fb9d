"""Shared pieces of the weight-conversion tests: random HF models and our params."""
import os

import flax.linen as nn
import jax
import numpy as np

from big_uni import pretrained


def random_hf_model(model_class, config, seed=0, scale=0.05):
  """`model_class(config)` built under torch seed `seed`, every param then moved off its init
  (biases and LayerNorms are 0 and 1 there, which would hide a transposed or misplaced one)."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  torch_model = model_class(config)
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
