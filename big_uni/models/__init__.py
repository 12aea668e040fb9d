"""Model families: `config.model.name` -> a Flax module built from `config.model`.

Each family registers its builder, FLOP count and export layout beside its code
(models/family.py); importing this package imports every family.
"""
import jax.numpy as jnp
import ml_collections

from big_uni import config_schema
# Importing each family registers it.
from big_uni.models import (bert, captioner, causal_lm, clip,  # pylint: disable=unused-import
                            decision_transformer, encoder_decoder, family, ft_transformer, mae,
                            transformer, vit)

MODELS = family.FAMILIES
# The tower builders others compose (pretrained.py, export.py).
build_vit = vit.build
build_clip = clip.build


def describe_compute(model) -> str:
  """What a built `model` computes in, e.g. 'bfloat16 activations, cudnn attention' (float32
  params always); per tower for two (CLIP, the captioner)."""
  if hasattr(model, 'image'):
    towers = {'image tower': model.image, 'text tower': model.text}
  else:  # MAE's decoder computes as its encoder does.
    towers = {'': model.encoder if isinstance(model, mae.MAE) else getattr(model, 'text', model)}
  parts = []
  for name, tower in towers.items():
    block = getattr(tower, 'block', tower)  # A TextEncoder's BlockConfig, or the ViT itself.
    attention = transformer.choose_attention(block.attention_impl, block.dtype,
                                             tower.width // block.num_heads,
                                             block.attention_dropout)
    parts.append(f'{name + ": " if name else ""}{jnp.dtype(block.dtype).name} activations, '
                 f'{attention} attention')
  return '; '.join(parts)


def build_model(model_config: ml_collections.ConfigDict):
  """The model `model_config` describes; the fields it leaves out take the schema's defaults."""
  build = MODELS.get(model_config.name).build
  return build(config_schema.completed(model_config, config_schema.MODEL))
