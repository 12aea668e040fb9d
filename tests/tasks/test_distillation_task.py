"""The distillation task (DeiT): each head learns from its own labels only, the teacher is a frozen
part of the trained state loaded by config.init (a big_uni run or an imported ViT), evaluation
reports the averaged and the single heads."""
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from big_uni import (aot, checkpoint, config_schema, errors, flops, grad_accum, paths, preflight,
                     pretrained, sharding, tasks, train)
from big_uni.models import build_model
from big_uni.tasks.distillation import student
from configs import deit_fashion_mnist
from tests.helpers import convert as convert_helpers
from tests.helpers import synthetic_steps


def _save_teacher(workdir, **overrides):
  """A teacher run's workdir: config.json and a step-1 checkpoint of deit_fashion_mnist's smoke
  teacher with a random head (a zero-initialised one predicts class 0 for every image)."""
  config = deit_fashion_mnist.get_config('stage=teacher,smoke')
  config.input.dataset = 'synthetic'
  config.update(overrides)
  config_schema.complete(config)
  images = jnp.zeros((1, 8, 8, 1))
  params = nn.unbox(build_model(config.model).init(jax.random.key(3), images))['params']
  params['head']['kernel'] = jax.random.normal(jax.random.key(4), params['head']['kernel'].shape)
  saver = checkpoint.Checkpointer(workdir / 'checkpoints', every_steps=1, keep=1)
  saver.save(1, {'params': params}, force=True)
  saver.close()
  paths.write_whole(workdir / 'config.json', config.to_json_best_effort(indent=2).encode())
  return params


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
  """(workdir, the teacher's params as saved)."""
  workdir = tmp_path_factory.mktemp('teacher')
  return str(workdir), _save_teacher(workdir)


def _student_config(teacher_workdir: str):
  config = deit_fashion_mnist.get_config(f'smoke,teacher={teacher_workdir}')
  config.input.dataset = 'synthetic'
  return config_schema.complete(config)


def _task_and_params(teacher):
  """(task, params: the saved teacher's under 'teacher', the student's with noise in every
  param: the heads start at zero, where some gradients vanish by themselves)."""
  workdir, saved = teacher
  task = tasks.build_task(_student_config(workdir))
  params = student(nn.unbox(jax.jit(task.init_params)(jax.random.key(0))))
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, x.shape)
                                     for k, x in zip(keys, leaves)])
  return task, dict(params, teacher=saved)


def _batch(task, seed: int = 0):
  return task.synthetic_batch(np.random.default_rng(seed), 16)


def _loss(task):
  """(params, batch) -> the training loss of `task`."""
  def loss(params, batch):
    return task.combine(task.train_sums(params, batch, jax.random.key(5)),
                        task.loss_weights(batch))[0]
  return loss


def test_each_head_learns_from_its_own_labels_only(teacher):
  """Other true labels change the [CLS] head's gradient, never the distillation head's; another
  teacher (other teacher labels) changes the distillation head's, never the [CLS] head's."""
  task, params = _task_and_params(teacher)
  batch = _batch(task)
  grad = jax.jit(jax.grad(_loss(task)))  # One compilation for the three.
  grads = grad(params, batch)
  relabelled = dict(batch, label=(batch['label'] + 1) % 10)
  other_labels = grad(params, relabelled)
  np.testing.assert_array_equal(other_labels['dist_head']['kernel'],
                                grads['dist_head']['kernel'])
  assert not np.allclose(other_labels['head']['kernel'], grads['head']['kernel'])

  teacher_params = params['teacher']
  other_teacher = dict(teacher_params, head=dict(kernel=-teacher_params['head']['kernel'],
                                                 bias=teacher_params['head']['bias']))
  labels_of = jax.jit(task.teacher_labels)
  assert not np.array_equal(labels_of(other_teacher, batch['image']),
                            labels_of(teacher_params, batch['image']))
  other_teachers = grad(dict(params, teacher=other_teacher), batch)
  np.testing.assert_array_equal(other_teachers['head']['kernel'], grads['head']['kernel'])
  assert not np.allclose(other_teachers['dist_head']['kernel'], grads['dist_head']['kernel'])


def test_the_distillation_head_reads_only_the_teachers_labels():
  """The loss's gradient w.r.t. each head's logits: the distillation head's from the teacher's
  labels alone, the [CLS] head's from the true labels alone, each half a cross-entropy's."""
  cls_logits, dist_logits = jax.random.normal(jax.random.key(0), (2, 4, 3))
  labels, teacher_labels = jnp.array([0, 1, 2, 0]), jnp.array([2, 2, 1, 0])

  def loss(cls_logits, dist_logits, labels, teacher_labels):
    sums = tasks.distillation.distillation_sums(cls_logits, dist_logits, labels, teacher_labels,
                                                3, 0.0)
    return sums['loss'][0] / sums['loss'][1]

  grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
  cls_grad, dist_grad = grad(cls_logits, dist_logits, labels, teacher_labels)
  np.testing.assert_allclose(
      dist_grad, 0.5 * (jax.nn.softmax(dist_logits) - jax.nn.one_hot(teacher_labels, 3)) / 4,
      rtol=1e-6)
  np.testing.assert_allclose(
      cls_grad, 0.5 * (jax.nn.softmax(cls_logits) - jax.nn.one_hot(labels, 3)) / 4, rtol=1e-6)
  np.testing.assert_array_equal(grad(cls_logits, dist_logits, (labels + 1) % 3,
                                     teacher_labels)[1], dist_grad)
  np.testing.assert_array_equal(grad(cls_logits, dist_logits, labels,
                                     (teacher_labels + 1) % 3)[0], cls_grad)


def _trainer(config, steps: int = 3):
  """A Trainer of `config` and its fresh state (the teacher loaded by config.init)."""
  trainer = train.Trainer(config, total_steps=steps)
  return trainer, trainer.init_state()


@pytest.mark.slow  # A Trainer, its init and 3 steps (19 s): the README's suite keeps to 15 min.
def test_the_teacher_is_frozen_and_adds_nothing_to_the_gradient_norm(teacher):
  """The teacher's gradient is zero (stop_gradient), so the step's grad_norm is the student's;
  after training steps the teacher in the state is the saved one, bit for bit, and the student
  has moved."""
  workdir, saved = teacher
  config = _student_config(workdir)
  trainer, state = _trainer(config)
  # AdamW's two moments of each student param, none of the teacher's.
  assert sum(x.size for x in jax.tree.leaves(state.opt_state) if x.ndim) == 2 * train.count_params(
      student(state.params))
  batch = sharding.global_batch(_batch(trainer.task), trainer.mesh)
  with trainer.context():
    _, grads = jax.jit(lambda params, batch: grad_accum.loss_and_grads(
        trainer.task, params, batch, jax.random.fold_in(trainer.dropout_rng, 0), 1,
        trainer.state_shardings.params))(state.params, batch)
    initial = jax.device_get(state.params)
    state, metrics = trainer.train_step(state, batch)
    for _ in range(2):
      state, _ = trainer.train_step(state, batch)
  assert all(not np.any(g) for g in jax.tree.leaves(grads['teacher']))
  np.testing.assert_allclose(float(metrics['grad_norm']),
                             float(optax.tree.norm(student(grads))), rtol=1e-6)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params['teacher']), saved)
  moved = jax.tree.map(lambda a, b: not np.array_equal(a, b), student(initial),
                       student(jax.device_get(state.params)))
  assert all(jax.tree.leaves(moved))


def _largest_constant(hlo_text: str) -> int:
  """Bytes of the largest dense array constant in StableHLO text."""
  return max([len(hex_digits) // 2 for hex_digits in
              re.findall(r'stablehlo.constant dense<"0x([0-9A-F]+)">', hlo_text)] or [0])


def test_the_teachers_params_are_arguments_of_the_step_not_constants(teacher):
  """The teacher's kernels (its widest 32 x 64 floats: 8 KiB) enter the step as arguments
  sharded as the state's; the step embeds no constant as large (the old closure did)."""
  trainer, state = _trainer(_student_config(teacher[0]))
  batch = sharding.global_batch(_batch(trainer.task), trainer.mesh)
  with trainer.context():
    lowered = trainer.train_step.lower(state, batch)
  teacher_leaves = jax.tree.leaves(state.params['teacher'])
  assert len(jax.tree.leaves(lowered.args_info)) == len(jax.tree.leaves((state, batch)))
  assert _largest_constant(lowered.as_text()) < max(x.nbytes for x in teacher_leaves) // 8


def test_evaluation_reports_the_averaged_and_each_heads_accuracy(teacher):
  task, params = _task_and_params(teacher)
  batch = dict(_batch(task), mask=np.ones(16, bool))
  sums = jax.jit(task.eval_sums)(params, batch)
  logits, features = jax.jit(task.model.apply)({'params': student(params)}, batch['image'])
  for name, head_logits in (('accuracy', logits), ('cls_accuracy', features['cls_logits']),
                            ('dist_accuracy', features['dist_logits'])):
    hits = np.sum(np.argmax(head_logits, -1) == batch['label'])
    assert float(sums[name][0]) == hits and float(sums[name][1]) == 16
  assert len({float(sums[n][0]) for n in ('accuracy', 'cls_accuracy', 'dist_accuracy')}) > 1


@pytest.mark.slow  # 80 steps beside the teacher's forward: 22 s with its setup (load 8).
def test_tiny_config_overfits_one_batch(teacher):
  """Both heads memorise their own targets: the [CLS] head the true labels, the distillation
  head the (random) teacher's, which mostly differ, so their average fits neither."""
  config = _student_config(teacher[0])
  config.total_steps = 80
  metrics = synthetic_steps.overfit(config, batch_size=16, lr=1e-2)
  assert metrics[0]['loss'] > 2.0  # ln(10) = 2.3 for the zero-initialised heads.
  assert metrics[-1]['loss'] < 0.25 * metrics[0]['loss']
  assert metrics[-1]['cls_accuracy'] == 1.0 and metrics[-1]['dist_agreement'] == 1.0


def _preflight_error(config) -> str:
  with pytest.raises(errors.UserInputError) as error:
    preflight.check(config, tasks.build_task(config))
  assert str(error.value).startswith('found before training: ')
  return str(error.value)


def test_a_bad_teacher_is_a_clear_error_before_the_first_step(tmp_path, teacher):
  def teacher_error(workdir):
    return _preflight_error(_student_config(str(workdir)))

  assert 'has no config.json' in teacher_error(tmp_path / 'missing')
  other_classes = tmp_path / 'five_classes'
  _save_teacher(other_classes)
  config_file = other_classes / 'config.json'
  config_file.write_text(config_file.read_text().replace('"num_classes": 10',
                                                         '"num_classes": 5'))
  assert 'model.num_classes=5' in teacher_error(other_classes)
  no_entry = _student_config(teacher[0])
  del no_entry.init['teacher']
  assert 'needs a teacher: config.init.teacher' in _preflight_error(no_entry)
  imported = _student_config(teacher[0])
  imported.init.teacher.kind = 'big_vision_vit'
  assert 'config.teacher.model' in _preflight_error(imported)

  # The weights are read by init, before the first step (and never again: a resumed run
  # reads them from its own checkpoint).
  empty = tmp_path / 'no_checkpoint'
  _save_teacher(empty)
  paths.resolve(empty / 'checkpoints').rmtree()
  config = _student_config(str(empty))
  config.total_steps = 2
  with pytest.raises(errors.UserInputError, match='no checkpoint in .*no_checkpoint'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not [p for p in (tmp_path / 'run' / 'checkpoints').iterdir() if p.name.isdigit()]
  assert not (tmp_path / 'run' / 'metrics.jsonl').exists()


def test_an_unfrozen_teacher_is_refused(teacher):
  config = _student_config(teacher[0])
  config.optimizer.frozen = ()
  with pytest.raises(errors.UserInputError, match=r"optimizer.frozen must hold 'teacher/\.\*'"):
    tasks.build_task(config)


def test_a_teacher_must_be_loaded_in_full(tmp_path, teacher):
  config = _student_config(teacher[0])
  config.init.teacher.dont_load = ('teacher/head/.*',)
  with pytest.raises(errors.UserInputError, match='must load all of .teacher.'):
    _trainer(config)


# An imported teacher: big_vision's own ViT (vendored, unchanged), saved as big_vision writes it.
BIG_VISION_TEACHER = dict(name='vit', variant='micro/4', width=32, depth=1, mlp_dim=64,
                          num_heads=2, num_classes=10, pool='cls', activation='gelu_tanh')


def _save_big_vision_teacher(path) -> str:
  bv_vit = convert_helpers.third_party('big_vision.models.vit')
  bv_utils = convert_helpers.third_party('big_vision.utils')
  model = bv_vit.Model(10, width=32, depth=1, mlp_dim=64, num_heads=2, patch_size=(4, 4),
                       pool_type='tok')
  params = model.init(jax.random.key(6), jnp.zeros((1, 8, 8, 1)))['params']
  # Off big_vision's init (its zero head would predict class 0 for every image).
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(7), len(leaves))
  params = jax.tree.unflatten(tree, [x + 0.5 * jax.random.normal(k, x.shape)
                                     for k, x in zip(keys, leaves)])
  names_and_values, _ = bv_utils.tree_flatten_with_names(params)
  np.savez(path, **dict(names_and_values))
  return str(path)


@pytest.mark.slow  # A big_vision file written, loaded and 3 steps (20 s), as above.
def test_an_imported_teacher_loads_through_config_init(tmp_path, teacher):
  """A big_vision .npz teacher (config.init kind big_vision_vit, its architecture in
  config.teacher.model) distils for a few steps and stays as the file holds it."""
  path = _save_big_vision_teacher(tmp_path / 'teacher.npz')
  config = _student_config(teacher[0])
  config.init.teacher = ml_collections.ConfigDict(dict(kind='big_vision_vit', path=path,
                                                       target='teacher'))
  config.teacher.model = ml_collections.ConfigDict(BIG_VISION_TEACHER)
  config_schema.complete(config)
  assert tasks.build_task(config).problems() == []
  metrics, state = synthetic_steps.train_steps(config, 3, batch_size=16)
  expected = pretrained.load_source(config.init.teacher, config.teacher.model)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params['teacher']), expected)
  assert all(np.isfinite(m['loss']) for m in metrics)
  assert 0 < metrics[0]['teacher_accuracy'] < 1  # It labels the images differently.


def test_model_flops_count_the_teachers_forward_pass(tmp_path):
  """A teacher 12x wider than the student: without its forward pass the count would be a tenth
  of XLA's."""
  _save_teacher(tmp_path, model=dict(width=192, mlp_dim=768, num_heads=3, depth=2))
  config = _student_config(str(tmp_path))
  config.input.batch_size = 8
  ours = flops.step_cost(tasks.build_task(config), 8).flops
  xla = aot.flops_per_step(config, 8)
  # XLA also counts softmax, GELU, LayerNorm and AdamW.
  assert 0.97 * xla < ours <= xla


def test_the_task_needs_a_distillation_model(teacher):
  config = _student_config(teacher[0])
  config.model.distillation = False
  with pytest.raises(errors.UserInputError, match='distillation token'):
    tasks.build_task(config)
