"""Masked autoencoding (He et al. 2022): reconstruct the pixels of the patches the encoder did not
see; the loss is the mean squared error over masked patches only (models/mae.py).

The mask is drawn from the step's rng (the trainer folds the step into it), so it is a function
of (seed, step) and a resumed run draws the masks the uninterrupted one would have.
"""
import jax
import jax.numpy as jnp

from big_uni.models import build_model, mae, vit
from big_uni.tasks import base, batch as batch_lib

# Evaluation scores the same masks every time, so evaluations of a run compare.
_EVAL_MASK_SEED = 0


@base.TASKS.register('mae')
class MaeTask(base.RowSumTask):
  """Batches are {'image': float32 [B, H, W, C]} (+ 'mask' bool [B] in eval); the loss is per
  masked patch, so its weight is the batch's B * (N - K) masked patches."""

  feature_kinds = ('image',)
  batch_fields = dict(
      image=batch_lib.Field(('input.image_size', 'input.image_size', 'input.channels'),
                            'float32'))

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)
    self.num_patches = vit.num_patches(self.model.encoder, self.batch_spec['image'].shape)
    self.num_masked = self.num_patches - mae.num_visible(self.num_patches,
                                                         self.model.mask_ratio)

  def visible(self, rng, rows: int):
    """int32 [rows, K]: the patches the encoder sees, drawn from `rng`."""
    return mae.random_visible(rng, rows, self.num_patches, self.model.mask_ratio)

  def init_params(self, rng):
    images = jnp.zeros((1, *self.batch_spec['image'].shape), jnp.float32)
    return self.model.init({'params': rng}, images, self.visible(rng, 1), train=False)['params']

  def _sums(self, params, images, visible, row_weights, train: bool, rng=None):
    """(sum of masked patches' errors, masked patches) over rows weighted by `row_weights` [B]."""
    predicted = self.model.apply({'params': params}, images, visible, train=train,
                                 rngs={'dropout': rng} if train else {})
    weights = mae.masked(visible, self.num_patches) * row_weights[:, None]
    errors = mae.patch_errors(predicted, images, self.model.encoder.patch_size,
                              self.model.norm_pix_loss)
    return (errors * weights).sum(), weights.sum()

  def train_sums(self, params, batch, rng):
    mask_rng, dropout_rng = jax.random.split(rng)
    rows = batch['image'].shape[0]
    return {'loss': self._sums(params, batch['image'], self.visible(mask_rng, rows),
                               jnp.ones(rows), train=True, rng=dropout_rng)}

  def loss_weights(self, batch):
    return {'loss': jnp.float32(batch['image'].shape[0] * self.num_masked)}

  def eval_sums(self, params, batch):
    rows = batch['image'].shape[0]
    visible = self.visible(jax.random.key(_EVAL_MASK_SEED), rows)
    return {'loss': self._sums(params, batch['image'], visible,
                               batch['mask'].astype(jnp.float32), train=False)}

  def image_features(self, params, images):
    """The encoder's features of the whole image [B, D] (kNN and linear-probe evaluations)."""
    return self.model.apply({'params': params}, images, method='encode')
