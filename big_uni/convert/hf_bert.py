"""Hugging Face BERT weights (safetensors, `BertModel`/`BertForPreTraining` keys) -> big_uni BERT.

HF stores dense kernels as [out, in]; big_uni's attention kernels are [D, heads, head_dim] and
[heads, head_dim, D]. The result is a numpy tree with the subtrees 'text' and 'pooler' (and the
MLM/NSP heads when the file has them), to merge with `big_uni.pretrained`.
"""
import json
import os

import numpy as np


def check_config(hf_config: dict, model_config) -> None:
  """The HF config.json must describe the same architecture as the big_uni model config."""
  from big_uni.models import bert  # pylint: disable=g-import-not-at-top
  sizes = bert.decode_variant(model_config.variant)
  sizes.update({k: model_config[k] for k in sizes if k in model_config})
  expected = {
      'hidden_size': sizes['width'], 'num_hidden_layers': sizes['depth'],
      'intermediate_size': sizes['mlp_dim'], 'num_attention_heads': sizes['num_heads'],
      'vocab_size': model_config.vocab_size,
      'max_position_embeddings': model_config.get('max_len', 512),
      'type_vocab_size': model_config.get('type_vocab_size', 2),
  }
  wrong = {k: (hf_config.get(k), v) for k, v in expected.items() if hf_config.get(k) != v}
  if wrong:
    raise ValueError('the HF checkpoint does not match config.model: ' + ', '.join(
        f'{k} is {theirs} there, {ours} here' for k, (theirs, ours) in wrong.items()))
  if hf_config.get('hidden_act', 'gelu') != 'gelu' or model_config.get('norm_first', False):
    raise ValueError('HF BERT is post-LN with exact GELU: set model.norm_first=False, '
                     "model.activation='gelu'")


def load(path: str, model_config) -> dict:
  """`path`: a model.safetensors file (config.json beside it is checked if present)."""
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  if not os.path.exists(path):
    raise FileNotFoundError(f'no safetensors file at {path}')
  config_path = os.path.join(os.path.dirname(path), 'config.json')
  if os.path.exists(config_path):
    with open(config_path) as f:
      check_config(json.load(f), model_config)
  weights = {k.removeprefix('bert.'): v for k, v in load_file(path).items()}
  from big_uni.models import bert  # pylint: disable=g-import-not-at-top
  num_heads = model_config.get('num_heads', bert.decode_variant(model_config.variant)['num_heads'])
  return convert(weights, num_heads)


def _dense(weights, prefix):
  return {'kernel': weights[f'{prefix}.weight'].T, 'bias': weights[f'{prefix}.bias']}


def _norm(weights, prefix):
  return {'scale': weights[f'{prefix}.weight'], 'bias': weights[f'{prefix}.bias']}


def convert(weights: dict[str, np.ndarray], heads: int) -> dict:
  """HF names (without a 'bert.' prefix) -> big_uni tree; the files do not record `heads`."""
  hidden = weights['embeddings.word_embeddings.weight'].shape[1]
  depth = 1 + max(int(k.split('.')[2]) for k in weights if k.startswith('encoder.layer.'))
  head_dim = hidden // heads
  encoder = {}
  for i in range(depth):
    p = f'encoder.layer.{i}'
    attention = {}
    for name in ('query', 'key', 'value'):
      attention[f'{name}_kernel'] = weights[f'{p}.attention.self.{name}.weight'].T.reshape(
          hidden, heads, head_dim)
      attention[f'{name}_bias'] = weights[f'{p}.attention.self.{name}.bias'].reshape(
          heads, head_dim)
    attention['out_kernel'] = weights[f'{p}.attention.output.dense.weight'].T.reshape(
        heads, head_dim, hidden)
    attention['out_bias'] = weights[f'{p}.attention.output.dense.bias']
    encoder[f'block{i:02d}'] = {
        'attention': attention,
        'norm1': _norm(weights, f'{p}.attention.output.LayerNorm'),
        'mlp': {'fc1': _dense(weights, f'{p}.intermediate.dense'),
                'fc2': _dense(weights, f'{p}.output.dense')},
        'norm2': _norm(weights, f'{p}.output.LayerNorm'),
    }
  tree = {'text': {
      'token_embed': {'embedding': weights['embeddings.word_embeddings.weight']},
      'position_embed': weights['embeddings.position_embeddings.weight'],
      'segment_embed': {'embedding': weights['embeddings.token_type_embeddings.weight']},
      'embed_layer_norm': _norm(weights, 'embeddings.LayerNorm'),
      'encoder': encoder,
  }}
  if 'pooler.dense.weight' in weights:
    tree['pooler'] = {'dense': _dense(weights, 'pooler.dense')}
  if 'cls.predictions.bias' in weights:
    tree['mlm_dense'] = _dense(weights, 'cls.predictions.transform.dense')
    tree['mlm_norm'] = _norm(weights, 'cls.predictions.transform.LayerNorm')
    tree['mlm_bias'] = weights['cls.predictions.bias']
  if 'cls.seq_relationship.weight' in weights:
    tree['nsp_head'] = _dense(weights, 'cls.seq_relationship')
  return tree

