"""BERT (Devlin et al. 2019): its pooler, MLM and NSP heads on the text tower (text.py).

Shapes: B batch, L tokens, P masked positions, D width, V vocabulary.
"""
import flax.linen as nn
import jax.numpy as jnp

from big_uni import flops
from big_uni.models import family, text, transformer


def _dense(features, names, name, dtype, init=None):
  return nn.Dense(features, dtype=dtype, name=name,
                  kernel_init=nn.with_logical_partitioning(init or text.normal(), names),
                  bias_init=nn.with_logical_partitioning(nn.initializers.zeros, names[-1:]))


class Pooler(nn.Module):
  """BERT's pooler: tanh(dense([CLS] features)) [B, D]."""
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens):
    width = tokens.shape[-1]
    return jnp.tanh(_dense(width, ('embed', 'mlp'), 'dense', self.dtype)(tokens[:, 0]))


class BertPretraining(nn.Module):
  """-> (MLM logits [B, P, V] at `masked_positions` [B, P], NSP logits [B, 2])."""
  family = 'bert_pretraining'  # Its models.family entry (registered at the end of this file).
  text: text.TextEncoder

  @nn.compact
  def __call__(self, input_ids, segment_ids, input_mask, masked_positions, train=False):
    tokens = self.text(input_ids, segment_ids, input_mask, train)
    dtype, block = self.text.block.dtype, self.text.block
    # Only the masked positions reach the vocabulary projection: [B, P, D], not [B, L, D].
    masked = jnp.take_along_axis(tokens, masked_positions[..., None], axis=1)
    masked = _dense(tokens.shape[-1], ('embed', 'mlp'), 'mlm_dense', dtype)(masked)
    masked = transformer.ACTIVATIONS[block.activation](masked)
    masked = transformer.layer_norm('mlm_norm', block.layer_norm_eps, dtype)(masked)
    mlm_bias = self.param('mlm_bias', nn.with_logical_partitioning(nn.initializers.zeros,
                                                                   ('vocab',)),
                          (self.text.vocab_size,))
    mlm_logits = self.text.attend(masked).astype(jnp.float32) + mlm_bias  # float32 logits
    pooled = Pooler(dtype, name='pooler')(tokens)
    nsp_logits = _dense(2, ('mlp', 'classes'), 'nsp_head', dtype)(pooled)
    return mlm_logits, nsp_logits.astype(jnp.float32)


class BertClassifier(nn.Module):
  """Sequence (or pair) classification from the pooled [CLS]: -> (logits [B, C], features)."""
  family = 'bert_classifier'  # Its models.family entry (registered at the end of this file).
  text: text.TextEncoder
  num_classes: int
  dropout: float = 0.1

  @nn.compact
  def __call__(self, input_ids, segment_ids, input_mask, train=False):
    tokens = self.text(input_ids, segment_ids, input_mask, train)
    pooled = Pooler(self.text.block.dtype, name='pooler')(tokens)
    pooled_dropped = nn.Dropout(self.dropout)(pooled, deterministic=not train)
    logits = _dense(self.num_classes, ('mlp', 'classes'), 'head', self.text.block.dtype,
                    init=nn.initializers.zeros)(pooled_dropped)
    return logits.astype(jnp.float32), {'pre_logits': pooled, 'tokens': tokens}


def build_pretraining(model_config) -> BertPretraining:
  return BertPretraining(text.text_encoder(model_config))


def build_classifier(model_config) -> BertClassifier:
  return BertClassifier(text.text_encoder(model_config), model_config.num_classes,
                        model_config.head_dropout)


def pretraining_flops(model: BertPretraining, batch_shapes) -> float:
  (batch, length), predictions = batch_shapes['input_ids'], batch_shapes['masked_positions'][1]
  width = model.text.width
  heads = predictions * (2 * width**2 + 2 * width * model.text.vocab_size) + 2 * width**2
  return 3 * batch * (flops.text_forward(model.text, length) + heads + 2 * width * 2)


def classifier_flops(model: BertClassifier, batch_shapes) -> float:
  batch, length = batch_shapes['input_ids']
  width = model.text.width
  head = 2 * width**2 + 2 * width * model.num_classes
  return 3 * batch * (flops.text_forward(model.text, length) + head)


def tokens_per_example(model, batch_shapes) -> int:
  return batch_shapes['input_ids'][1]


def export(params, config):
  """-> HF BertForPreTraining / BertForSequenceClassification."""
  from big_uni.convert import hf_bert  # pylint: disable=g-import-not-at-top
  return hf_bert.export(params, text.text_encoder(config.model))


family.FAMILIES.register('bert_pretraining', family.Family(
    build_pretraining, pretraining_flops, tokens_per_example, export))
family.FAMILIES.register('bert_classifier', family.Family(
    build_classifier, classifier_flops, tokens_per_example, export))
