"""Supervised image classification: softmax cross-entropy with optional label smoothing."""
import jax
import jax.numpy as jnp
import optax

from big_uni import numerics
from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib


def classification_train_sums(logits, labels, num_classes: int, label_smoothing: float):
  """Cross-entropy against (smoothed) one-hot `labels` int [B] and top-1 hits, as (sum, rows)."""
  targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
  rows = jnp.float32(labels.shape[0])
  return {'loss': (optax.softmax_cross_entropy(logits, targets).sum(), rows),
          'train_accuracy': ((logits.argmax(-1) == labels).sum().astype(jnp.float32), rows)}


def classification_sums(logits, labels, mask):
  """Loss, top-1 and top-5 accuracy as (sum, count) over the rows where `mask` is True."""
  mask = mask.astype(jnp.float32)
  count = mask.sum()
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return {
      'loss': ((losses * mask).sum(), count),
      'accuracy': (((logits.argmax(-1) == labels) * mask).sum(), count),
      'top5_accuracy': ((numerics.top_k_hits(logits, labels) * mask).sum(), count),
  }


@base.TASKS.register('classification')
class ClassificationTask(base.RowSumTask):
  """Batches are {'image': float32 [B, H, W, C], 'label': int32 [B]} (+ 'mask' bool [B] in eval)."""

  feature_kinds = ('image',)
  batch_fields = dict(
      image=batch_lib.Field(('input.image_size', 'input.image_size', 'input.channels'), 'float32'),
      label=batch_lib.Field((), 'int32', high='model.num_classes'))

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    self.num_classes = config.model.num_classes
    self.label_smoothing = config.label_smoothing

  def init_params(self, rng):
    images = jnp.zeros((1, *self.batch_spec['image'].shape), jnp.float32)
    return self.model.init({'params': rng}, images, train=False)['params']

  def train_sums(self, params, batch, rng):
    logits, _ = self.model.apply({'params': params}, batch['image'], train=True,
                                 rngs={'dropout': rng})
    return classification_train_sums(logits, batch['label'], self.num_classes,
                                     self.label_smoothing)

  def eval_sums(self, params, batch):
    logits, _ = self.model.apply({'params': params}, batch['image'], train=False)
    return classification_sums(logits, batch['label'], batch['mask'])

  def image_features(self, params, images):
    """The representation before the head [B, D] (kNN and linear-probe evaluations)."""
    return self.model.apply({'params': params}, images, train=False)[1]['pre_logits']
