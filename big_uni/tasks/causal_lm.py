"""Causal language modelling: each token predicted from the tokens before it (GPT).

Batches (input.kind='token_windows'): input_ids int32 [B, L], input_mask bool [B, L] (True on
real tokens, padding after them); 'mask' bool [B] in eval. Row position t + 1 is the target of
the logits at t, so a row of n real tokens holds n - 1 predictions (the loss and perplexity:
sequence.NextTokenTask).
"""
import jax.numpy as jnp

from big_uni.tasks import base, batch as batch_lib, sequence


@base.TASKS.register('causal_lm')
class CausalLmTask(sequence.NextTokenTask):
  tokens_field, mask_field = 'input_ids', 'input_mask'
  batch_fields = dict(
      input_ids=batch_lib.Field(('input.max_seq_len',), 'int32', high='model.vocab_size'),
      # At least 2 real tokens: one prediction a row.
      input_mask=batch_lib.Field(('input.max_seq_len',), 'bool', min_length=2))

  def init_params(self, rng):
    ids = jnp.zeros((1, *self.batch_spec['input_ids'].shape), jnp.int32)
    return self.model.init({'params': rng}, ids)['params']

  def next_token_logits(self, params, batch, train, rng=None):
    logits = self.model.apply({'params': params}, batch['input_ids'], train=train,
                              rngs={'dropout': rng} if train else {})
    return logits[:, :-1]
