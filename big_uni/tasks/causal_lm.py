"""Causal language modelling: each token predicted from the tokens before it (GPT).

Batches (input.kind='causal_lm'): input_ids int32 [B, L], input_mask bool [B, L] (True on real
tokens, padding after them); 'mask' bool [B] in eval. Row position t + 1 is the target of the
logits at t, so a row of n real tokens holds n - 1 predictions; the loss is the mean
cross-entropy over every prediction of the batch (its weight: their count), so gradient
accumulation adds micro-batches up to the whole batch's mean exactly.
"""
import jax.numpy as jnp

from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib, sequence


@base.TASKS.register('causal_lm')
class CausalLmTask(base.RowSumTask):

  batch_fields = dict(
      input_ids=batch_lib.Field(('input.max_seq_len',), 'int32', high='model.vocab_size'),
      # At least 2 real tokens: one prediction a row.
      input_mask=batch_lib.Field(('input.max_seq_len',), 'bool', min_length=2))

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    self.vocab_size = config.model.vocab_size

  def init_params(self, rng):
    ids = jnp.zeros((1, *self.batch_spec['input_ids'].shape), jnp.int32)
    return self.model.init({'params': rng}, ids)['params']

  def _target_weights(self, batch):
    return sequence.target_weights(batch['input_mask'], batch.get('mask'))

  def _sums(self, params, batch, train, rng=None):
    logits = self.model.apply({'params': params}, batch['input_ids'], train=train,
                              rngs={'dropout': rng} if train else {})
    return sequence.next_token_sums(logits[:, :-1], batch['input_ids'][:, 1:],
                                    self._target_weights(batch))

  def train_sums(self, params, batch, rng):
    sums = self._sums(params, batch, train=True, rng=rng)
    return {'loss': sums['loss'], 'train_accuracy': sums['accuracy']}

  def loss_weights(self, batch):
    return {'loss': self._target_weights(batch).sum()}

  def eval_sums(self, params, batch):
    return self._sums(params, batch, train=False)

  def summarize_eval(self, means):
    return sequence.with_perplexity(means)
