"""CLIP: image-text contrastive learning (softmax InfoNCE or SigLIP's sigmoid loss).

Batches (input.kind='image_text'): image float32 [B, H, W, C]; text_ids int32 [B, L]; text_mask
bool [B, L]; label int32 [B] (-1 where there is no class); 'mask' bool [B] in eval.

The loss is over the *global* batch: every image against every caption of it, in per-device
blocks (contrastive_losses.py), so it is the same whatever the mesh. Gradient accumulation keeps
all B negatives (big_uni/grad_accum.py).
"""
import math

import jax.numpy as jnp

from big_uni import config_schema, errors
from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib
from big_uni.tasks.contrastive_losses import LOSSES, contrastive_loss, contrastive_sums  # pylint: disable=unused-import

# Each loss's own init of (logit_scale, logit_bias), where config.model leaves them None: CLIP's
# temperature 0.07 and no bias; SigLIP's t' = log 10, b = -10 (Zhai et al. 2023, section 3.3).
LOGIT_INIT = {'softmax': (math.log(1 / 0.07), None), 'sigmoid': (math.log(10.0), -10.0)}


def model_config_for_loss(model_config, loss_kind: str):
  """`model_config` with the logit scale and bias inits of `loss_kind` where it sets none."""
  model_config = config_schema.completed(model_config, config_schema.MODEL)
  scale_init, bias_init = LOGIT_INIT[loss_kind]
  with model_config.unlocked():
    if model_config.logit_scale_init is None:
      model_config.logit_scale_init = scale_init
    if model_config.logit_bias_init is None:
      model_config.logit_bias_init = bias_init
    elif loss_kind == 'softmax':
      raise errors.UserInputError(
          f'model.logit_bias_init={model_config.logit_bias_init} with contrastive_loss=softmax: '
          'a bias shifts every logit of a softmax alike and changes nothing; leave it None, or '
          'use contrastive_loss=sigmoid')
  return model_config


@base.TASKS.register('contrastive')
class ContrastiveTask(base.EmbeddingTask):

  feature_kinds = ('image', 'text')
  batch_fields = dict(
      image=batch_lib.Field(('input.image_size', 'input.image_size', 'input.channels'), 'float32'),
      text_ids=batch_lib.Field(('input.max_text_len',), 'int32', high='model.text.vocab_size'),
      text_mask=batch_lib.Field(('input.max_text_len',), 'bool', min_length=3))

  def __init__(self, config):
    super().__init__(config)
    self.loss_kind = config.contrastive_loss
    if self.loss_kind not in LOSSES:
      raise errors.UserInputError(f'contrastive_loss={self.loss_kind!r}: use one of {LOSSES}')
    self.model = build_model(model_config_for_loss(config.model, self.loss_kind))
    self.vocab_size = config.model.text.vocab_size

  def init_params(self, rng):
    images = jnp.zeros((1, *self.batch_spec['image'].shape), jnp.float32)
    ids = jnp.zeros((1, *self.batch_spec['text_ids'].shape), jnp.int32)
    return self.model.init({'params': rng}, images, ids, ids == 0)['params']

  def embed(self, params, batch, rng=None):
    """{'image', 'text'}: unit-norm float32 [B, E] each; dropout when `rng` is given."""
    image_embed, text_embed = self.model.apply(
        {'params': params}, batch['image'], batch['text_ids'], batch['text_mask'],
        train=rng is not None, rngs={} if rng is None else {'dropout': rng})
    return {'image': image_embed, 'text': text_embed}

  def _sums(self, params, embeddings, valid=None):
    scale, bias = self.model.apply({'params': params}, method='logit_scale_and_bias')
    return contrastive_sums(embeddings['image'], embeddings['text'], scale, bias, self.loss_kind,
                            valid), scale

  def batch_loss(self, params, embeddings):
    (loss, hits, count), scale = self._sums(params, embeddings)
    return loss / count, {'train_image_to_text_accuracy': hits / count, 'logit_scale': scale}

  def eval_sums(self, params, batch):
    (loss, hits, count), _ = self._sums(params, self.embed(params, batch), batch['mask'])
    return {'loss': (loss, count), 'in_batch_image_to_text_accuracy': (hits, count)}

  def constrain_params(self, params):
    # OpenAI's clamp of the param itself to [0, log max_logit_scale], after every update.
    limit = math.log(self.model.max_logit_scale)
    return {**params, 'logit_scale': jnp.clip(params['logit_scale'], 0.0, limit)}

  def image_features(self, params, images):
    """Unit-norm joint-space embeddings [B, E], as zero-shot and retrieval compare them."""
    return self.model.apply({'params': params}, images, method='encode_image')

  def text_features(self, params, text_ids, text_mask):
    return self.model.apply({'params': params}, text_ids, text_mask, method='encode_text')
