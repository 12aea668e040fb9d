"""BERT pretraining: masked-LM cross-entropy on the masked positions plus next-sentence prediction.

Batches (input.kind='bert_pretraining'): input_ids, segment_ids int32 [B, L]; input_mask bool
[B, L]; masked_positions, masked_ids int32 [B, P]; masked_weights float32 [B, P] (0 on padding);
next_sentence_label int32 [B] (0: B follows A, 1: B is random); 'mask' bool [B] in eval.
"""
import math

import jax.numpy as jnp
import optax

from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib


@base.TASKS.register('mlm_nsp')
class MlmNspTask(base.RowSumTask):

  loss_terms = ('train_mlm_loss', 'train_nsp_loss')
  # Synthetic batches draw in this order: the random positions, ids, targets and labels first, as
  # they were drawn before this declaration (the grad-accumulation figures were measured on them).
  batch_fields = dict(
      masked_positions=batch_lib.Field(('input.max_predictions',), 'int32', low=1,
                                       high='input.max_seq_len', distinct=True),
      input_ids=batch_lib.Field(('input.max_seq_len',), 'int32', high='model.vocab_size'),
      masked_ids=batch_lib.Field(('input.max_predictions',), 'int32', high='model.vocab_size'),
      next_sentence_label=batch_lib.Field((), 'int32', high=2),
      segment_ids=batch_lib.Field(('input.max_seq_len',), 'int32', high=2),
      input_mask=batch_lib.Field(('input.max_seq_len',), 'bool'),
      masked_weights=batch_lib.Field(('input.max_predictions',), 'float32', fill=1.0))

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    self.vocab_size = config.model.vocab_size

  def init_params(self, rng):
    ids = jnp.zeros((1, *self.batch_spec['input_ids'].shape), jnp.int32)
    positions = jnp.zeros((1, *self.batch_spec['masked_positions'].shape), jnp.int32)
    return self.model.init({'params': rng}, ids, ids, ids == 0, positions)['params']

  def _weights(self, batch):
    """(token weights [B, P], row weights [B]): 0 on padding predictions and padding rows."""
    row_mask = batch.get('mask', jnp.ones(batch['masked_weights'].shape[0], bool))
    row_mask = row_mask.astype(jnp.float32)
    return batch['masked_weights'] * row_mask[:, None], row_mask

  def _sums(self, params, batch, train, rng=None):
    mlm_logits, nsp_logits = self.model.apply(
        {'params': params}, batch['input_ids'], batch['segment_ids'], batch['input_mask'],
        batch['masked_positions'], train=train, rngs={'dropout': rng} if train else {})
    weights, row_mask = self._weights(batch)
    mlm_losses = optax.softmax_cross_entropy_with_integer_labels(mlm_logits, batch['masked_ids'])
    nsp_labels = batch['next_sentence_label']
    nsp_losses = optax.softmax_cross_entropy_with_integer_labels(nsp_logits, nsp_labels)
    # An eval batch's padding rows have no real token: their attention (softmax over nothing) is
    # NaN, which a zero weight would not cancel (NaN * 0 = NaN).
    mlm_losses = jnp.where(weights > 0, mlm_losses, 0.0)
    nsp_losses = jnp.where(row_mask > 0, nsp_losses, 0.0)
    masked_count, row_count = weights.sum(), row_mask.sum()
    return {
        'mlm_loss': ((mlm_losses * weights).sum(), masked_count),
        'mlm_accuracy': (((mlm_logits.argmax(-1) == batch['masked_ids']) * weights).sum(),
                         masked_count),
        'nsp_loss': ((nsp_losses * row_mask).sum(), row_count),
        'nsp_accuracy': (((nsp_logits.argmax(-1) == nsp_labels) * row_mask).sum(), row_count),
    }

  def train_sums(self, params, batch, rng):
    sums = self._sums(params, batch, train=True, rng=rng)
    return {f'train_{name}': value for name, value in sums.items()}

  def loss_weights(self, batch):
    # BERT's MLM loss is the mean over the masked tokens of the whole batch, however many each
    # row (or micro-batch) has.
    weights, row_mask = self._weights(batch)
    return {'train_mlm_loss': weights.sum(), 'train_nsp_loss': row_mask.sum()}

  def eval_sums(self, params, batch):
    return self._sums(params, batch, train=False)

  def summarize_eval(self, means):
    perplexity = {k.replace('mlm_loss', 'mlm_perplexity'): math.exp(min(v, 700.0))
                  for k, v in means.items() if k.endswith('mlm_loss')}
    return {**means, **perplexity}
