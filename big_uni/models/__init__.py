"""Model registry: `config.model.name` -> a Flax module built from `config.model`."""
import jax.numpy as jnp
import ml_collections

from big_uni.models import bert, vit

# Fields a config may set on top of its variant's table entry.
_SIZE_FIELDS = ('width', 'depth', 'mlp_dim', 'num_heads', 'patch_size')


def build_vit(model_config: ml_collections.ConfigDict) -> vit.ViT:
  sizes = vit.decode_variant(model_config.variant)
  sizes.update({k: model_config[k] for k in _SIZE_FIELDS if k in model_config})
  return vit.ViT(
      num_classes=model_config.num_classes, pool=model_config.get('pool', 'cls'),
      dropout=model_config.get('dropout', 0.0), drop_path=model_config.get('drop_path', 0.0),
      remat_policy=model_config.get('remat_policy', 'none'),
      dtype=jnp.dtype(model_config.get('dtype', 'float32')),
      attention_impl=attention_impl(model_config), **sizes)


def attention_impl(model_config) -> str | None:
  impl = model_config.get('attention_impl', 'auto')
  if impl not in ('auto', 'xla', 'cudnn'):
    raise ValueError(f"model.attention_impl={impl!r}: use 'auto', 'xla' or 'cudnn'")
  return None if impl == 'auto' else impl


def build_bert_pretraining(model_config) -> bert.BertPretraining:
  return bert.BertPretraining(_text_encoder(model_config))


def build_bert_classifier(model_config) -> bert.BertClassifier:
  return bert.BertClassifier(_text_encoder(model_config), model_config.num_classes,
                             model_config.get('head_dropout', model_config.get('dropout', 0.1)))


def _text_encoder(model_config) -> bert.TextEncoder:
  return bert.text_encoder(model_config, block={'attention_impl': attention_impl(model_config)})


MODELS = {
    'vit': build_vit,
    'bert_pretraining': build_bert_pretraining,
    'bert_classifier': build_bert_classifier,
}


def build_model(model_config: ml_collections.ConfigDict):
  if model_config.name not in MODELS:
    raise ValueError(f'unknown model.name {model_config.name!r}; known: {sorted(MODELS)}')
  return MODELS[model_config.name](model_config)
