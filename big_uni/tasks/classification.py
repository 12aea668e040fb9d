"""Supervised image classification: softmax cross-entropy with optional label smoothing."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from big_uni.models import build_model


class ClassificationTask:
  """Batches are {'image': float32 [B, H, W, C], 'label': int32 [B]} (+ 'mask' bool [B] in eval)."""

  def __init__(self, config):
    self.model = build_model(config.model)
    self.num_classes = config.model.num_classes
    self.label_smoothing = config.get('label_smoothing', 0.0)
    self.image_shape = (config.input.image_size, config.input.image_size, config.input.channels)

  def init_params(self, rng):
    """Boxed (logically partitioned) params; call under jax.eval_shape for shapes only."""
    images = jnp.zeros((1, *self.image_shape), jnp.float32)
    return self.model.init({'params': rng}, images, train=False)['params']

  def synthetic_batch(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
    """Random inputs of the real shapes, for benchmarks and machines without TensorFlow."""
    return {'image': rng.standard_normal((batch_size, *self.image_shape), np.float32),
            'label': rng.integers(0, self.num_classes, batch_size, dtype=np.int32)}

  def loss_and_metrics(self, params, batch, rng):
    logits, _ = self.model.apply({'params': params}, batch['image'], train=True,
                                 rngs={'dropout': rng})
    targets = optax.smooth_labels(jax.nn.one_hot(batch['label'], self.num_classes),
                                  self.label_smoothing)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    accuracy = (logits.argmax(-1) == batch['label']).mean()
    return loss, {'train_accuracy': accuracy}

  def eval_sums(self, params, batch):
    """Per-batch sums, padding excluded; the trainer adds them up and divides by `count`."""
    logits, _ = self.model.apply({'params': params}, batch['image'], train=False)
    mask = batch['mask'].astype(jnp.float32)
    labels = batch['label']
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    top5 = jax.lax.top_k(logits, min(5, self.num_classes))[1]
    return {
        'count': mask.sum(),
        'loss': (losses * mask).sum(),
        'accuracy': ((logits.argmax(-1) == labels) * mask).sum(),
        'top5_accuracy': ((top5 == labels[:, None]).any(-1) * mask).sum(),
    }
