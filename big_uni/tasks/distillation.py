"""DeiT hard-label distillation (Touvron et al. 2021): a ViT with a distillation token
(models/vit.py, model.distillation=True) learns the true labels through its [CLS] head and a
frozen teacher's predictions through its distillation head:

  loss = 1/2 CE(cls_logits, label) + 1/2 CE(dist_logits, argmax of the teacher's logits)

with label smoothing (config.label_smoothing) on the first term only, as in DeiT's code. The
teacher sees the student's augmented training images, as in DeiT.

The teacher is a ViT classifier whose params are a frozen part of the trained state: the subtree
'teacher' of the params, sharded by its logical axes as the student's, an argument of the jitted
step, saved in every checkpoint (a resumed run reads them there) and frozen by
`optimizer.frozen` (which must hold 'teacher/.*': no update, no weight decay, no optimizer
state; its logits also pass a stop_gradient, so its gradient is zero). A `config.init` entry with
target 'teacher' loads them at the start, in full:

  config.init.teacher = dict(kind='checkpoint', path=<workdir>, target='teacher')  # a big_uni run
  config.init.teacher = dict(kind='timm_vit', path=<file>, target='teacher')  # an imported ViT
  config.teacher.model = dict(variant='B/16', num_classes=1000)  # ... and its architecture

A big_uni run's model is the one its workdir's config.json names; an imported teacher's (any ViT
init kind: timm_vit, big_vision_vit, hf_vit) is `config.teacher.model`.

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

from big_uni import errors, paths
from big_uni.models import build_model, vit
from big_uni.tasks import base, classification

TEACHER = 'teacher'  # The params subtree, and the config.init target, of the teacher.
FROZEN = f'{TEACHER}/.*'  # The optimizer.frozen regex that freezes it.
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


NEEDS_TEACHER = (
    "the distillation task needs a teacher: config.init.teacher = dict(kind='checkpoint', "
    "path=<workdir of a finished classification run>, target='teacher') (e.g. "
    'configs/deit_fashion_mnist.py:teacher=<workdir>), or an imported ViT (kind timm_vit, '
    'big_vision_vit, hf_vit) with its architecture in config.teacher.model')


def teacher_entry(config):
  """The `config.init` entry that loads the teacher (target 'teacher'), or None."""
  for entry in (config.init or {}).values():
    if entry.get('target', '') == TEACHER:
      return entry
  return None


def teacher_config(config) -> ml_collections.ConfigDict:
  """The teacher's config, checked against the student's: config.teacher.model (an imported
  teacher's) if set, else the config.json of the big_uni run config.init.teacher loads; a
  UserInputError naming the cause unless it is a ViT classifier of the same classes (and, for a
  run, images)."""
  entry = teacher_entry(config)
  if 'model' in config.teacher:
    if entry is not None and entry.kind == 'checkpoint':
      raise errors.UserInputError(
          f'config.teacher.model is for an imported teacher: the big_uni run {entry.path!r} '
          'names its model in its config.json (leave config.teacher.model out)')
    model = config.teacher.model
    if model.get('num_classes') != config.model.num_classes:
      raise errors.UserInputError(
          f"config.teacher.model.num_classes={model.get('num_classes')}, the student has "
          f'{config.model.num_classes}: a teacher must classify the same images')
    return ml_collections.ConfigDict(dict(model=model))
  if entry is None:
    raise errors.UserInputError(NEEDS_TEACHER)
  if entry.kind != 'checkpoint':
    raise errors.UserInputError(
        f'an imported teacher (config.init.{TEACHER} of kind {entry.kind!r}) needs its '
        'architecture: config.teacher.model = dict(variant=..., num_classes=..., ...)')
  return run_config(entry.path, config)


def run_config(workdir: str, student_config) -> ml_collections.ConfigDict:
  """The config.json of the run `workdir`, checked against the student's config."""
  how = ("set config.init.teacher.path to the workdir of a finished classification run (e.g. "
         'configs/deit_fashion_mnist.py:stage=teacher)')
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


def student(params) -> dict:
  """The student's params: all but the teacher's subtree."""
  return {name: value for name, value in params.items() if name != TEACHER}


@base.TASKS.register('distillation')
class DistillationTask(classification.ClassificationTask):
  """Batches as classification's: {'image': float32 [B, H, W, C], 'label': int32 [B]} (+ 'mask'
  bool [B] in eval); the model a ViT with model.distillation=True."""

  def __init__(self, config):
    super().__init__(config)
    if not getattr(self.model, 'distillation', False):
      raise errors.UserInputError("task 'distillation' needs a ViT with a distillation token "
                                  '(config.model.name="vit", config.model.distillation=True)')
    if FROZEN not in tuple(config.optimizer.frozen):
      raise errors.UserInputError(
          f"task 'distillation' trains the student only: config.optimizer.frozen must hold "
          f'{FROZEN!r} (the teacher\'s params; it has {tuple(config.optimizer.frozen)})')
    self.config = config

  @functools.cached_property
  def teacher_config(self) -> ml_collections.ConfigDict:
    """The teacher's config: its model (and for a big_uni run, the rest of its config.json)."""
    return teacher_config(self.config)

  @functools.cached_property
  def teacher_model(self):
    return build_model(self.teacher_config.model)

  def problems(self) -> list[str]:
    """The teacher's init entry and architecture, before the first step (its weights are read
    by init, and not at all on resume, where the checkpoint holds them)."""
    try:
      self.teacher_model  # pylint: disable=pointless-statement
    except errors.UserInputError as e:
      return [str(e)]
    return [] if teacher_entry(self.config) else [NEEDS_TEACHER]

  def loaded_parts(self) -> dict:
    return {TEACHER: self.teacher_config.model}

  def init_params(self, rng):
    """The student's params and, under 'teacher', the teacher's (random: config.init loads
    them)."""
    images = jnp.zeros((1, *self.batch_spec['image'].shape), jnp.float32)
    teacher = self.teacher_model.init({'params': jax.random.fold_in(rng, 1)}, images,
                                      train=False)['params']
    return {**super().init_params(rng), TEACHER: teacher}

  def train_flops(self, batch_shapes) -> float:
    """The student's train step and the teacher's forward pass on the same images."""
    batch, *image_shape = batch_shapes['image']
    return super().train_flops(batch_shapes) + batch * sum(
        vit.forward_flops(self.teacher_model, image_shape))

  def teacher_labels(self, teacher_params, images):
    """int32 [B]: the teacher's top-1 class of each image [B, H, W, C], without gradient."""
    logits, _ = self.teacher_model.apply({'params': teacher_params}, images, train=False)
    return jax.lax.stop_gradient(logits).argmax(-1).astype(jnp.int32)

  def train_sums(self, params, batch, rng):
    _, features = self.model.apply({'params': student(params)}, batch['image'], train=True,
                                   rngs={'dropout': rng})
    return distillation_sums(features['cls_logits'], features['dist_logits'], batch['label'],
                             self.teacher_labels(params[TEACHER], batch['image']),
                             self.num_classes, self.label_smoothing)

  def eval_sums(self, params, batch):
    logits, features = self.model.apply({'params': student(params)}, batch['image'],
                                        train=False)
    sums = classification.classification_sums(logits, batch['label'], batch['mask'])
    mask = batch['mask'].astype(jnp.float32)
    for head in ('cls', 'dist'):
      hits = features[f'{head}_logits'].argmax(-1) == batch['label']
      sums[f'{head}_accuracy'] = ((hits * mask).sum(), mask.sum())
    return sums

  def image_features(self, params, images):
    return super().image_features(student(params), images)
