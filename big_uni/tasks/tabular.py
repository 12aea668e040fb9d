"""Tables (input.kind='tabular'): classification and regression from numeric and categorical
columns (models/ft_transformer.py).

Batches: numeric float32 [B, n_num], categorical int32 [B, n_cat], label int32 [B] (classes) or
float32 [B] (a standardized regression target); 'mask' bool [B] in eval.
"""
import jax.numpy as jnp

from big_uni.models import build_model
from big_uni.tasks import base, batch as batch_lib
from big_uni.tasks.classification import classification_sums, classification_train_sums

_COLUMNS = dict(
    numeric=batch_lib.Field(('model.num_numeric',), 'float32'),
    # Synthetic rows take code 0, a value of every column whatever its size.
    categorical=batch_lib.Field(('model.num_categorical',), 'int32', high=1))


class TabularTask(base.RowSumTask):
  """The model on a batch's columns; subclasses add the label and the loss."""

  def __init__(self, config):
    super().__init__(config)
    self.model = build_model(config.model)

  def init_params(self, rng):
    numeric = jnp.zeros((1, *self.batch_spec['numeric'].shape), jnp.float32)
    categorical = jnp.zeros((1, *self.batch_spec['categorical'].shape), jnp.int32)
    return self.model.init({'params': rng}, numeric, categorical)['params']

  def outputs(self, params, batch, train, rng=None):
    """-> float32 [B, O]."""
    return self.model.apply({'params': params}, batch['numeric'], batch['categorical'],
                            train=train, rngs={'dropout': rng} if train else {})


@base.TASKS.register('tabular_classification')
class TabularClassificationTask(TabularTask):
  """Softmax cross-entropy over model.num_outputs classes (two logits for a binary label)."""

  batch_fields = dict(**_COLUMNS, label=batch_lib.Field((), 'int32', high='model.num_outputs'))

  def __init__(self, config):
    super().__init__(config)
    self.num_classes = config.model.num_outputs
    self.label_smoothing = config.label_smoothing

  def train_sums(self, params, batch, rng):
    return classification_train_sums(self.outputs(params, batch, True, rng), batch['label'],
                                      self.num_classes, self.label_smoothing)

  def eval_sums(self, params, batch):
    sums = classification_sums(self.outputs(params, batch, False), batch['label'],
                               batch['mask'])
    del sums['top5_accuracy']  # Always 1 with the 2 or 3 classes of these tables.
    return sums


@base.TASKS.register('tabular_regression')
class TabularRegressionTask(TabularTask):
  """Mean squared error on the (standardized) target; its root (RMSE) is reported in eval."""

  batch_fields = dict(**_COLUMNS, label=batch_lib.Field((), 'float32'))

  def __init__(self, config):
    super().__init__(config)
    if config.model.num_outputs != 1:
      raise ValueError(f'a regression has one output, not model.num_outputs='
                       f'{config.model.num_outputs}')

  def _squared_errors(self, params, batch, train, rng=None):
    return (self.outputs(params, batch, train, rng)[:, 0] - batch['label'])**2

  def train_sums(self, params, batch, rng):
    return {'loss': (self._squared_errors(params, batch, True, rng).sum(),
                     jnp.float32(len(batch['label'])))}

  def eval_sums(self, params, batch):
    mask = batch['mask'].astype(jnp.float32)
    return {'loss': ((self._squared_errors(params, batch, False) * mask).sum(), mask.sum())}

  def summarize_eval(self, means):
    return {**means, 'rmse': means['loss']**0.5}
