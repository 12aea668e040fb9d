"""Hugging Face Marian (`MarianMTModel`; safetensors) <-> big_uni's encoder-decoder
(models/encoder_decoder.py), whose layout Marian is without a change to the computation: one
token embedding (model.shared) for source, target and output (lm_head tied to it), scaled by
sqrt(D) (scale_embedding); sinusoidal positions, the sines in channels [0, D/2) and the cosines
in [D/2, D) at frequencies 10000^(-2i/D), which HF computes at load as big_uni computes them
(they are not in the file); post-LN blocks whose LayerNorms have eps 1e-5, the one Marian's
nn.LayerNorm(d_model) takes; scores scaled by head_dim^-0.5.

Marian adds final_logits_bias to the logits, which big_uni's model does not have: exported as
zeros, and a file whose bias is not zero is refused. The result of `load` is a numpy tree of the
whole model (token_embed, encoder, decoder), to merge with `big_uni.pretrained`.
"""
import dataclasses

import numpy as np

from big_uni.convert import files, hf_gpt2, layout


def _projections(attention: str) -> tuple[str, str, str]:
  return tuple(f'{attention}.{name}_proj.{{}}' for name in 'qkv')


ENCODER_BLOCK = layout.BlockKeys(
    qkv=_projections('self_attn'), out='self_attn.out_proj.{}', norm1='self_attn_layer_norm.{}',
    norm2='final_layer_norm.{}', fc1='fc1.{}', fc2='fc2.{}')
DECODER_BLOCK = dataclasses.replace(
    ENCODER_BLOCK, cross_qkv=_projections('encoder_attn'), cross_out='encoder_attn.out_proj.{}',
    norm_cross='encoder_attn_layer_norm.{}')
SHARED = 'model.shared.weight'
# Tied to model.shared (checked on import, not written on export, as HF's own files leave them).
TIED = ('model.encoder.embed_tokens.weight', 'model.decoder.embed_tokens.weight',
        'lm_head.weight')
# Frozen sinusoids, which HF recomputes from the config where a file leaves them out, and
# big_uni computes (not params): ignored on import.
POSITIONS = ('model.encoder.embed_positions.weight', 'model.decoder.embed_positions.weight')
LOGITS_BIAS = 'final_logits_bias'  # [1, V]
# big_uni's activation -> the same function's name in transformers' ACT2FN.
ACTIVATIONS = {**hf_gpt2.ACTIVATIONS, 'relu': 'relu'}
LAYER_NORM_EPS = 1e-5  # Marian's nn.LayerNorm default; its config has no field for it.
# big_uni's positions have no limit; this bounds only HF's table, computed at load and never
# stored (so a larger one costs no file space): MarianConfig's default.
MAX_POSITIONS = 1024


def entries(model) -> list[layout.Entry]:
  """The table of an `encoder_decoder.EncoderDecoder` module."""
  heads = model.block.num_heads
  return [layout.Entry('token_embed/embedding', SHARED),
          *layout.encoder('encoder', 'model.encoder.layers.{i}.', ENCODER_BLOCK, model.depth,
                          heads, final_norm=None),
          *layout.encoder('decoder', 'model.decoder.layers.{i}.', DECODER_BLOCK, model.depth,
                          heads, final_norm=None)]


def hf_config(model) -> dict:
  """MarianConfig's fields that big_uni's config decides; what Marian cannot hold is refused."""
  block = model.block
  if block.norm_first:
    raise layout.LayoutError('HF Marian is post-LN: set model.norm_first=False')
  if block.layer_norm_eps != LAYER_NORM_EPS:
    raise layout.LayoutError(f"HF Marian's LayerNorms have eps {LAYER_NORM_EPS}, fixed: set "
                             f'model.layer_norm_eps={LAYER_NORM_EPS} (not '
                             f'{block.layer_norm_eps})')
  if block.activation not in ACTIVATIONS:
    raise layout.LayoutError(f'HF Marian has no activation_function for model.activation='
                             f'{block.activation!r}: use one of {sorted(ACTIVATIONS)}')
  sides = {}
  for side in ('encoder', 'decoder'):
    sides.update({f'{side}_layers': model.depth, f'{side}_attention_heads': block.num_heads,
                  f'{side}_ffn_dim': block.mlp_dim})
  return {'d_model': model.width, **sides, 'vocab_size': model.vocab_size,
          'decoder_vocab_size': model.vocab_size,
          'activation_function': ACTIVATIONS[block.activation], 'scale_embedding': True,
          'share_encoder_decoder_embeddings': True, 'tie_word_embeddings': True}


def load(path: str, model) -> dict:
  """Params of an `encoder_decoder.EncoderDecoder` module."""
  state = files.read_state_dict(path)
  source = f'the HF Marian at {path}'
  files.check_hf_config(files.read_hf_config(path), hf_config(model), source)
  params = layout.to_params(state, entries(model), ignore=(*TIED, *POSITIONS, LOGITS_BIAS),
                            source=source)
  for key in TIED:
    if key in state and not np.array_equal(state[key], state[SHARED]):
      raise layout.LayoutError(f"{path}: {key} is not tied to {SHARED}, as big_uni's "
                               'encoder-decoder ties every embedding and the output')
  if np.any(state.get(LOGITS_BIAS, 0)):
    raise layout.LayoutError(f"{path}: {LOGITS_BIAS} is not zero, and big_uni's "
                             'encoder-decoder has no logits bias')
  return params


def export(params: dict, model, *, pad_id: int | None, eos_id: int | None,
           start_id: int | None) -> tuple[dict, dict]:
  """(state dict, config.json) of MarianMTModel. The ids are the training tokenizer's: padding,
  the end token, and the token each target starts with (decoder_start_token_id; Marian's own
  models start with padding). No end token is forced at the length limit, as big_uni's decoding
  forces none, and the dropout rates are 0 (training's, not the model's)."""
  state = layout.to_state_dict(params, entries(model), target='HF MarianMTModel')
  state[LOGITS_BIAS] = np.zeros((1, model.vocab_size), np.float32)
  config = dict(hf_config(model), model_type='marian', architectures=['MarianMTModel'],
                max_position_embeddings=MAX_POSITIONS, dropout=0.0, attention_dropout=0.0,
                activation_dropout=0.0, pad_token_id=pad_id, eos_token_id=eos_id,
                decoder_start_token_id=start_id, bos_token_id=None, forced_eos_token_id=None)
  return state, config
