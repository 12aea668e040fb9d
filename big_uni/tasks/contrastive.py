"""CLIP: image-text contrastive learning (softmax InfoNCE or SigLIP's sigmoid loss).

Batches (input.kind='image_text'): image float32 [B, H, W, C]; text_ids int32 [B, L]; text_mask
bool [B, L]; label int32 [B] (-1 where there is no class); 'mask' bool [B] in eval.

The loss is over the *global* batch: `jax.jit` sees global arrays, so the [B, B] similarity
matrix pairs every image with every caption on every device (XLA gathers the sharded
embeddings), and the loss is the same whatever the mesh.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from big_uni.models import build_model
from big_uni.tasks import base

LOSSES = ('softmax', 'sigmoid')


def contrastive_loss(image_embed, text_embed, scale, bias, kind: str, valid=None):
  """Mean loss of the [B, B] image-text logits; pairs (i, i) are the positives.

  valid: bool [B] (padding rows of eval batches are False and take no part).
  """
  logits = scale * jnp.einsum('id,td->it', image_embed, text_embed) + bias
  batch = logits.shape[0]
  valid = jnp.ones(batch, bool) if valid is None else valid
  pair_valid = valid[:, None] & valid[None, :]
  count = jnp.maximum(valid.sum(), 1)
  if kind == 'softmax':
    masked = jnp.where(pair_valid, logits, -1e9)
    labels = jnp.arange(batch)
    image_to_text = optax.softmax_cross_entropy_with_integer_labels(masked, labels)
    text_to_image = optax.softmax_cross_entropy_with_integer_labels(masked.T, labels)
    return (jnp.where(valid, image_to_text + text_to_image, 0.0).sum() / 2) / count
  if kind == 'sigmoid':
    # SigLIP: every pair is a binary problem; normalised by the number of images.
    signs = 2 * jnp.eye(batch) - 1
    return -jnp.where(pair_valid, jax.nn.log_sigmoid(signs * logits), 0.0).sum() / count
  raise ValueError(f'contrastive loss {kind!r}: use one of {LOSSES}')


class ContrastiveTask(base.Task):

  def __init__(self, config):
    self.model = build_model(config.model)
    self.loss_kind = config.get('contrastive_loss', 'softmax')
    if self.loss_kind not in LOSSES:
      raise ValueError(f'contrastive_loss={self.loss_kind!r}: use one of {LOSSES}')
    self.image_shape = (config.input.image_size, config.input.image_size, config.input.channels)
    self.text_len = config.input.max_text_len
    self.vocab_size = config.model.text.vocab_size

  def init_params(self, rng):
    images = jnp.zeros((1, *self.image_shape), jnp.float32)
    ids = jnp.zeros((1, self.text_len), jnp.int32)
    return self.model.init({'params': rng}, images, ids, ids == 0)['params']

  def synthetic_batch(self, rng, batch_size):
    lengths = rng.integers(3, self.text_len + 1, (batch_size, 1))
    return {'image': rng.standard_normal((batch_size, *self.image_shape), np.float32),
            'text_ids': rng.integers(0, self.vocab_size, (batch_size, self.text_len),
                                     dtype=np.int32),
            'text_mask': np.arange(self.text_len)[None] < lengths,
            'label': rng.integers(0, 10, batch_size, dtype=np.int32)}

  def _embed(self, params, batch, train, rng=None):
    image_embed, text_embed, scale, bias = self.model.apply(
        {'params': params}, batch['image'], batch['text_ids'], batch['text_mask'], train=train,
        rngs={'dropout': rng} if train else {})
    return image_embed, text_embed, scale, bias

  def loss_and_metrics(self, params, batch, rng):
    image_embed, text_embed, scale, bias = self._embed(params, batch, True, rng)
    loss = contrastive_loss(image_embed, text_embed, scale, bias, self.loss_kind)
    similarity = image_embed @ text_embed.T
    accuracy = (similarity.argmax(1) == jnp.arange(similarity.shape[0])).mean()
    return loss, {'train_image_to_text_accuracy': accuracy, 'logit_scale': scale}

  def eval_sums(self, params, batch):
    image_embed, text_embed, scale, bias = self._embed(params, batch, False)
    valid = batch['mask']
    count = valid.sum().astype(jnp.float32)
    loss = contrastive_loss(image_embed, text_embed, scale, bias, self.loss_kind, valid)
    similarity = jnp.where(valid[None, :], image_embed @ text_embed.T, -jnp.inf)
    hits = (similarity.argmax(1) == jnp.arange(similarity.shape[0])) & valid
    return {'loss': (loss * count, count),
            'in_batch_image_to_text_accuracy': (hits.sum().astype(jnp.float32), count)}

  def image_features(self, params, images):
    """Unit-norm joint-space embeddings [B, E], as zero-shot and retrieval compare them."""
    return self.model.apply({'params': params}, images, method='encode_image')

  def text_features(self, params, text_ids, text_mask):
    return self.model.apply({'params': params}, text_ids, text_mask, method='encode_text')
