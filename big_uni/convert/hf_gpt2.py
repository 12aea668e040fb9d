"""Hugging Face GPT-2 (`GPT2LMHeadModel`, `GPT2Model`; safetensors) <-> big_uni's causal LM
(models/causal_lm.py), whose family is GPT-2's layout: pre-LN blocks ending in ln_f, learned
positions, no segment embeddings, and logits from the token embedding (lm_head tied to wte).

GPT-2's linear layers are Conv1D modules, whose weights are [in, out] (a Linear's transposed), and
its q/k/v projections are one c_attn weight [D, 3D], joined on the output axis. Its config
records the activation by `transformers`' name (ACTIVATIONS). The result of `load` is a numpy
tree with the subtree 'text', to merge with `big_uni.pretrained`.
"""
import dataclasses

import numpy as np

from big_uni.convert import files, layout

BLOCK = layout.BlockKeys(
    qkv='attn.c_attn.{}', out='attn.c_proj.{}', norm1='ln_1.{}', norm2='ln_2.{}',
    fc1='mlp.c_fc.{}', fc2='mlp.c_proj.{}')
# big_uni's activation -> the same function's name in transformers' ACT2FN.
ACTIVATIONS = {'gelu_tanh': 'gelu_new', 'gelu': 'gelu', 'quick_gelu': 'quick_gelu'}
TIED = 'lm_head.weight'  # Tied to wte: checked on import, not written on export.
# What big_uni's attention does, where GPT2Config has a switch: 1 / sqrt(head width) scaling,
# no cross-attention.
ATTENTION = dict(scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False,
                 add_cross_attention=False)


def keys(prefix: str) -> layout.TextKeys:
  """prefix: 'transformer.' in GPT2LMHeadModel files, '' in GPT2Model ones (OpenAI's gpt2)."""
  p = prefix
  return layout.TextKeys(token=f'{p}wte.weight', position=f'{p}wpe.weight', blocks=f'{p}h.{{i}}.',
                         block=BLOCK, final_norm=f'{p}ln_f.{{}}')


def _conv1d(entry: layout.Entry) -> layout.Entry:
  """A Linear's entry as GPT-2's Conv1D holds it: its weight transposed, and fused q/k/v
  thirds joined on the last axis; every other entry as it is."""
  if not entry.ours.endswith('kernel'):
    return entry
  linear = entry.transform
  return dataclasses.replace(
      entry, part_axis=-1, transform=layout.Transform(lambda w: linear.to_ours(w.T),
                                                      lambda k: linear.to_theirs(k).T))


def entries(text_encoder, prefix: str) -> list[layout.Entry]:
  """The table of a causal LM's `text.TextEncoder`."""
  return [_conv1d(e) for e in layout.text(text_encoder, keys(prefix), 'text')]


def hf_config(text_encoder) -> dict:
  block = text_encoder.block
  if block.activation not in ACTIVATIONS:
    raise layout.LayoutError(f'HF GPT-2 has no activation_function for activation='
                             f'{block.activation!r}: use one of {sorted(ACTIVATIONS)}')
  return {'n_embd': text_encoder.width, 'n_layer': text_encoder.depth,
          'n_head': block.num_heads, 'n_inner': block.mlp_dim,
          'vocab_size': text_encoder.vocab_size, 'n_positions': text_encoder.max_len,
          'activation_function': ACTIVATIONS[block.activation],
          'layer_norm_epsilon': block.layer_norm_eps, **ATTENTION}


def load(path: str, text_encoder) -> dict:
  """Params (the 'text' tree) for a causal LM's `text.TextEncoder` module."""
  state = files.read_state_dict(path)
  source = f'the HF GPT-2 at {path}'
  theirs = files.read_hf_config(path)
  if theirs is not None and theirs.get('n_inner') is None:  # GPT-2's default: 4 n_embd.
    theirs = dict(theirs, n_inner=4 * theirs.get('n_embd', 768))
  files.check_hf_config(theirs, hf_config(text_encoder), source)
  prefix = 'transformer.' if any(k.startswith('transformer.') for k in state) else ''
  lm_head = state.get(TIED)
  if lm_head is not None and not np.array_equal(lm_head, state[keys(prefix).token]):
    raise layout.LayoutError(f'{path}: lm_head is not tied to wte, as big_uni\'s causal LM ties '
                             'them')
  # Older files keep each block's causal mask as buffers.
  buffers = [f'{prefix}h.{i}.attn.{name}' for i in range(text_encoder.depth)
             for name in ('bias', 'masked_bias')]
  return layout.to_params(state, entries(text_encoder, prefix), ignore=(TIED, *buffers),
                          source=source)


def export(params: dict, text_encoder) -> tuple[dict, dict]:
  """(state dict, config.json) of GPT2LMHeadModel. The dropout rates are 0 (training's, not the
  model's) and no bos/eos ids are named: big_uni's windows have no end-of-text token."""
  state = layout.to_state_dict(params, entries(text_encoder, 'transformer.'),
                               target='HF GPT2LMHeadModel')
  config = dict(hf_config(text_encoder), model_type='gpt2', architectures=['GPT2LMHeadModel'],
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                bos_token_id=None, eos_token_id=None)
  return state, config
