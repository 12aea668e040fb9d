"""Model registry: `config.model.name` -> a Flax module built from `config.model`."""
import dataclasses

import jax.numpy as jnp
import ml_collections

from big_uni import config_schema
from big_uni.models import bert, clip, sizes, text, transformer, vit


def build_vit(model_config: ml_collections.ConfigDict) -> vit.ViT:
  """The variant's sizes (those the config sets replace them), then the other ViT fields."""
  model_config = config_schema.completed(model_config, config_schema.VIT)
  fields = sizes.decode(model_config.variant, 'ViT')
  names = {f.name for f in dataclasses.fields(vit.ViT)} - {'parent', 'name'}
  # A size left None is the variant's; every other field is the config's (mlp_dropout None
  # means `dropout`).
  fields.update({k: v for k, v in model_config.items()
                 if k in names and not (v is None and k in fields)})
  fields['dtype'] = transformer.compute_dtype(model_config.dtype)
  fields['attention_impl'] = transformer.attention_impl(model_config.attention_impl)
  return vit.ViT(**fields)


def build_bert_pretraining(model_config) -> bert.BertPretraining:
  return bert.BertPretraining(text.text_encoder(model_config))


def build_bert_classifier(model_config) -> bert.BertClassifier:
  return bert.BertClassifier(text.text_encoder(model_config), model_config.num_classes,
                             model_config.head_dropout)


def build_clip(model_config) -> clip.CLIP:
  """`model_config.image` is a ViT config (its head is left out), `.text` a text encoder's; a
  logit init left None is the module's default (tasks.contrastive fills in its loss's)."""
  model_config = config_schema.completed(model_config, config_schema.MODEL)
  image_config = model_config.image.copy_and_resolve_references()
  with image_config.unlocked():
    image_config.num_classes = 0
  return clip.CLIP(build_vit(image_config), text.text_encoder(model_config.text),
                   model_config.embed_dim, model_config.text_pool,
                   **{k: model_config[k] for k in ('logit_scale_init', 'logit_bias_init',
                                                    'lock_image', 'lock_text')
                      if model_config[k] is not None})


def describe_compute(model) -> str:
  """What a built `model` computes in, e.g. 'bfloat16 activations, cudnn attention' (float32
  params always); for CLIP, per tower."""
  towers = ({'image tower': model.image, 'text tower': model.text}
            if isinstance(model, clip.CLIP) else {'': getattr(model, 'text', model)})
  parts = []
  for name, tower in towers.items():
    block = getattr(tower, 'block', tower)  # A TextEncoder's BlockConfig, or the ViT itself.
    attention = transformer.choose_attention(block.attention_impl, block.dtype,
                                             tower.width // block.num_heads,
                                             block.attention_dropout)
    parts.append(f'{name + ": " if name else ""}{jnp.dtype(block.dtype).name} activations, '
                 f'{attention} attention')
  return '; '.join(parts)


MODELS = {
    'vit': build_vit,
    'bert_pretraining': build_bert_pretraining,
    'bert_classifier': build_bert_classifier,
    'clip': build_clip,
}


def build_model(model_config: ml_collections.ConfigDict):
  """The model `model_config` describes; the fields it leaves out take the schema's defaults."""
  if model_config.name not in MODELS:
    raise ValueError(f'unknown model.name {model_config.name!r}; known: {sorted(MODELS)}')
  return MODELS[model_config.name](config_schema.completed(model_config, config_schema.MODEL))
