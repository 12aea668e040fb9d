"""Sequence and sentence-pair classification (BERT fine-tuning) from the pooled [CLS] token.

Batches (input.kind='text_classification'): input_ids, segment_ids int32 [B, L]; input_mask bool
[B, L]; label int32 [B]; 'mask' bool [B] in eval.
"""
import jax.numpy as jnp

from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib
from big_uni.tasks.classification import classification_sums, classification_train_sums


@base.TASKS.register('text_classification')
class TextClassificationTask(base.RowSumTask):

  feature_kinds = ('text',)
  batch_fields = dict(
      input_ids=batch_lib.Field(('input.max_seq_len',), 'int32', high='model.vocab_size'),
      segment_ids=batch_lib.Field(('input.max_seq_len',), 'int32', fill=0),
      input_mask=batch_lib.Field(('input.max_seq_len',), 'bool'),
      label=batch_lib.Field((), 'int32', high='model.num_classes'))

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    self.vocab_size = config.model.vocab_size
    self.num_classes = config.model.num_classes
    self.label_smoothing = config.label_smoothing

  def init_params(self, rng):
    ids = jnp.zeros((1, *self.batch_spec['input_ids'].shape), jnp.int32)
    return self.model.init({'params': rng}, ids, ids, ids == 0)['params']

  def _logits(self, params, batch, train, rng=None):
    logits, _ = self.model.apply(
        {'params': params}, batch['input_ids'], batch['segment_ids'], batch['input_mask'],
        train=train, rngs={'dropout': rng} if train else {})
    return logits

  def train_sums(self, params, batch, rng):
    return classification_train_sums(self._logits(params, batch, True, rng), batch['label'],
                                     self.num_classes, self.label_smoothing)

  def eval_sums(self, params, batch):
    return classification_sums(self._logits(params, batch, False), batch['label'],
                               batch['mask'])

  def text_features(self, params, text_ids, text_mask):
    """The pooled [CLS] [B, D] before the head (kNN and the linear probe); one segment."""
    _, features = self.model.apply({'params': params}, text_ids, jnp.zeros_like(text_ids),
                                   text_mask, train=False)
    return features['pre_logits']
