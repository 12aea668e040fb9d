"""Sequence-to-sequence translation with the Transformer (models/encoder_decoder.py).

Batches (input.kind='translation'): source_ids int32 [B, S] and source_mask bool [B, S];
target_ids int32 [B, T] framed start ... end (the tokenizer's cls_id and sep_id, as
encode_padded frames every text) and target_mask bool [B, T]; 'mask' bool [B] in eval.
Teacher forcing: the decoder reads target[:, :-1] and predicts target[:, 1:], so a row of n
real target tokens holds n - 1 predictions; the loss is their mean cross-entropy with
`config.label_smoothing` (the paper's 0.1) in training and without it in evaluation
(sequence.NextTokenTask). The generation evaluation writes translations with beam search.
"""
import jax.numpy as jnp

from big_uni import decoding
from big_uni.tasks import base, batch as batch_lib, sequence


@base.TASKS.register('translation')
class TranslationTask(sequence.NextTokenTask):
  generates = True
  tokens_field, mask_field = 'target_ids', 'target_mask'
  batch_fields = dict(
      source_ids=batch_lib.Field(('input.max_source_len',), 'int32', high='model.vocab_size'),
      source_mask=batch_lib.Field(('input.max_source_len',), 'bool', min_length=1),
      target_ids=batch_lib.Field(('input.max_target_len',), 'int32', high='model.vocab_size'),
      # Start and end at least: one prediction a row.
      target_mask=batch_lib.Field(('input.max_target_len',), 'bool', min_length=2))

  def init_params(self, rng):
    source = jnp.zeros((1, *self.batch_spec['source_ids'].shape), jnp.int32)
    target = jnp.zeros((1, *self.batch_spec['target_ids'].shape), jnp.int32)
    return self.model.init({'params': rng}, source, jnp.ones(source.shape, bool),
                           target)['params']

  def next_token_logits(self, params, batch, train, rng=None):
    return self.model.apply({'params': params}, batch['source_ids'], batch['source_mask'],
                            batch['target_ids'][:, :-1], train=train,
                            rngs={'dropout': rng} if train else {})

  def generate(self, params, batch, *, beam_size, alpha, max_len):
    model = self.model
    encoded = model.apply({'params': params}, batch['source_ids'], batch['source_mask'],
                          method=model.encode)
    return decoding.write(
        model, params, batch['target_ids'][:, 0],
        max_len or self.batch_spec['target_ids'].shape[0] - 1, beam_size=beam_size,
        alpha=alpha, eos_id=self.tokenizer.sep_id, pad_id=self.tokenizer.pad_id,
        method=model.decode, encoded=encoded, source_mask=batch['source_mask'])

  def reference_ids(self, batch):
    return batch['target_ids'][:, 1:]
