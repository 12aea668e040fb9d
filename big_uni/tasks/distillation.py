"""DeiT hard-label distillation (Touvron et al. 2021): a ViT with a distillation token
(models/vit.py, model.distillation=True) learns the true labels through its [CLS] head and a
frozen teacher's predictions through its distillation head:

  loss = 1/2 CE(cls_logits, label) + 1/2 CE(dist_logits, argmax of the teacher's logits)

with label smoothing (config.label_smoothing) on the first term only, as in DeiT's code. The
teacher sees the student's augmented training images, as in DeiT.

The teacher is a finished classification run of big_uni, `config.teacher.workdir`: its model is
the one that workdir's config.json names, its params are read once (by preflight, before the first
step) and closed over by the jitted step. They are constants of the step, not params of the trained
state: no optimizer state, no update, no gradient (its logits also pass a stop_gradient).

Evaluation: the average of the two heads' logits (the model's output, DeiT's test-time rule)
gives loss, accuracy and top-5 accuracy; each head's own accuracy is `cls_accuracy` and
`dist_accuracy`.
"""
import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import optax

from big_uni import errors, paths, pretrained
from big_uni.models import build_model, vit
from big_uni.tasks import base, classification

# What a teacher's config must share with the student's: the model's classes and the images.
_SHARED = ('model.num_classes', 'input.image_size', 'input.channels')


def distillation_sums(cls_logits, dist_logits, labels, teacher_labels, num_classes: int,
                      label_smoothing: float):
  """The loss and training metrics as (sum, rows): logits float32 [B, C] of the two heads,
  the true `labels` and the teacher's `teacher_labels` int [B]. The [CLS] head's terms read
  only `labels`, the distillation head's only `teacher_labels`."""
  targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
  cls_loss = optax.softmax_cross_entropy(cls_logits, targets)  # [B]
  dist_loss = optax.softmax_cross_entropy_with_integer_labels(dist_logits, teacher_labels)
  rows = jnp.float32(labels.shape[0])

  def agreement(predicted, wanted):
    return (predicted == wanted).sum().astype(jnp.float32), rows

  return {'loss': (0.5 * (cls_loss + dist_loss).sum(), rows),
          'cls_loss': (cls_loss.sum(), rows), 'dist_loss': (dist_loss.sum(), rows),
          'train_accuracy': agreement(((cls_logits + dist_logits) / 2).argmax(-1), labels),
          'cls_accuracy': agreement(cls_logits.argmax(-1), labels),
          # How often the teacher is right on the augmented images, and the student's
          # distillation head agrees with it.
          'teacher_accuracy': agreement(teacher_labels, labels),
          'dist_agreement': agreement(dist_logits.argmax(-1), teacher_labels)}


def _get(config, dotted: str):
  for key in dotted.split('.'):
    config = config[key]
  return config


def teacher_config(teacher_section, student_config) -> ml_collections.ConfigDict:
  """The config.json of the run `teacher_section.workdir` names, checked against the student's
  config: a UserInputError naming the cause unless it is a classifier of the same classes and
  images."""
  workdir = teacher_section.workdir
  how = ('set config.teacher.workdir to the workdir of a finished classification run (e.g. '
         'configs/deit_fashion_mnist.py:stage=teacher)')
  if not workdir:
    raise errors.UserInputError(f'the distillation task needs a teacher: {how}')
  config_file = paths.resolve(workdir) / 'config.json'
  if not config_file.exists():
    raise errors.UserInputError(
        f'teacher workdir {workdir!r} has no config.json (no run was started there): {how}')
  config = ml_collections.ConfigDict(json.loads(config_file.read_text()))
  if config.task not in ('classification', 'distillation') or config.model.name != 'vit':
    raise errors.UserInputError(f'the teacher in {workdir!r} is a {config.model.name!r} trained '
                                f'on task {config.task!r}, not a ViT image classifier: {how}')
  for field in _SHARED:
    if _get(config, field) != _get(student_config, field):
      raise errors.UserInputError(
          f'the teacher in {workdir!r} has {field}={_get(config, field)!r}, the student '
          f'{_get(student_config, field)!r}: a teacher must classify the same images')
  return config


@base.TASKS.register('distillation')
class DistillationTask(classification.ClassificationTask):
  """Batches as classification's: {'image': float32 [B, H, W, C], 'label': int32 [B]} (+ 'mask'
  bool [B] in eval); the model a ViT with model.distillation=True."""

  def __init__(self, config):
    super().__init__(config)
    if not getattr(self.model, 'distillation', False):
      raise errors.UserInputError("task 'distillation' needs a ViT with a distillation token "
                                  '(config.model.name="vit", config.model.distillation=True)')
    self.config = config

  @functools.cached_property
  def teacher_config(self) -> ml_collections.ConfigDict:
    """The teacher run's config (its config.json, checked against the student's)."""
    return teacher_config(self.config.teacher, self.config)

  @functools.cached_property
  def teacher(self):
    """(teacher model, its params): read once, by preflight or on first use (shapes and eval
    modes need none)."""
    entry = ml_collections.ConfigDict(dict(kind='checkpoint', path=self.config.teacher.workdir,
                                           step=self.config.teacher.step))
    model_config = self.teacher_config.model
    try:
      params = pretrained.load_source(entry, model_config)
    except errors.UserInputError as e:
      raise errors.UserInputError(f'the teacher: {e}') from None
    # Host (numpy) arrays: read on the first trace of the step, where a jnp array would be a
    # tracer of that trace.
    return build_model(model_config), params

  def problems(self) -> list[str]:
    """The teacher's run, config and params, read in full before the first step."""
    try:
      self.teacher  # pylint: disable=pointless-statement
    except errors.UserInputError as e:
      return [str(e)]
    return []

  def train_flops(self, batch_shapes) -> float:
    """The student's train step and the teacher's forward pass on the same images."""
    teacher_model = build_model(self.teacher_config.model)
    batch, *image_shape = batch_shapes['image']
    return super().train_flops(batch_shapes) + batch * sum(
        vit.forward_flops(teacher_model, image_shape))

  def teacher_labels(self, teacher_params, images):
    """int32 [B]: the teacher's top-1 class of each image [B, H, W, C], without gradient."""
    model, _ = self.teacher
    logits, _ = model.apply({'params': teacher_params}, images, train=False)
    return jax.lax.stop_gradient(logits).argmax(-1).astype(jnp.int32)

  def train_sums(self, params, batch, rng):
    return self.train_sums_with(params, self.teacher[1], batch, rng)

  def train_sums_with(self, params, teacher_params, batch, rng):
    """train_sums with the teacher's params given (the tests differentiate through them)."""
    _, features = self.model.apply({'params': params}, batch['image'], train=True,
                                   rngs={'dropout': rng})
    return distillation_sums(features['cls_logits'], features['dist_logits'], batch['label'],
                             self.teacher_labels(teacher_params, batch['image']),
                             self.num_classes, self.label_smoothing)

  def eval_sums(self, params, batch):
    logits, features = self.model.apply({'params': params}, batch['image'], train=False)
    sums = classification.classification_sums(logits, batch['label'], batch['mask'])
    mask = batch['mask'].astype(jnp.float32)
    for head in ('cls', 'dist'):
      hits = features[f'{head}_logits'].argmax(-1) == batch['label']
      sums[f'{head}_accuracy'] = ((hits * mask).sum(), mask.sum())
    return sums
