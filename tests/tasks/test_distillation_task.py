"""The distillation task (DeiT): each head learns from its own labels only, the teacher is a frozen
big_uni run read from its workdir, evaluation reports the averaged and the single heads."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import aot, checkpoint, config_schema, errors, flops, paths, preflight, tasks
from big_uni.models import build_model
from configs import deit_fashion_mnist
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


def _task_and_params(teacher_workdir: str):
  task = tasks.build_task(_student_config(teacher_workdir))
  params = nn.unbox(jax.jit(task.init_params)(jax.random.key(0)))
  # Noise in every param: the heads start at zero, where some gradients vanish by themselves.
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  return task, jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, x.shape)
                                         for k, x in zip(keys, leaves)])


def _batch(task, seed: int = 0):
  return task.synthetic_batch(np.random.default_rng(seed), 16)


def _loss(task):
  """(params, teacher_params, batch) -> the training loss of `task`."""
  def loss(params, teacher_params, batch):
    return task.combine(task.train_sums_with(params, teacher_params, batch, jax.random.key(5)),
                        task.loss_weights(batch))[0]
  return loss


def test_each_head_learns_from_its_own_labels_only(teacher):
  """Other true labels change the [CLS] head's gradient, never the distillation head's; another
  teacher (other teacher labels) changes the distillation head's, never the [CLS] head's."""
  task, params = _task_and_params(teacher[0])
  teacher_params = task.teacher[1]
  batch = _batch(task)
  grad = jax.jit(jax.grad(_loss(task)))  # One compilation for the three.
  grads = grad(params, teacher_params, batch)
  relabelled = dict(batch, label=(batch['label'] + 1) % 10)
  other_labels = grad(params, teacher_params, relabelled)
  np.testing.assert_array_equal(other_labels['dist_head']['kernel'],
                                grads['dist_head']['kernel'])
  assert not np.allclose(other_labels['head']['kernel'], grads['head']['kernel'])

  other_teacher = jax.tree.map(lambda x: x, teacher_params)
  other_teacher['head'] = dict(kernel=-teacher_params['head']['kernel'],
                               bias=teacher_params['head']['bias'])
  labels_of = jax.jit(task.teacher_labels)
  assert not np.array_equal(labels_of(other_teacher, batch['image']),
                            labels_of(teacher_params, batch['image']))
  other_teachers = grad(params, other_teacher, batch)
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


def test_the_teacher_gets_no_gradient_and_stays_as_saved(teacher):
  workdir, saved = teacher
  task, params = _task_and_params(workdir)
  batch = _batch(task)

  teacher_grads = jax.jit(jax.grad(_loss(task), argnums=1))(params, task.teacher[1], batch)
  assert all(not np.any(g) for g in jax.tree.leaves(teacher_grads))
  # Training steps update the student's params only: the state holds no teacher, and the
  # teacher the step reads is still the saved one afterwards.
  config = _student_config(workdir)
  config.total_steps = 3
  _, state = synthetic_steps.train_steps(config, 3, batch_size=16)
  assert sorted(state.params) == sorted(params)
  jax.tree.map(np.testing.assert_array_equal, task.teacher[1], saved)


def test_evaluation_reports_the_averaged_and_each_heads_accuracy(teacher):
  task, params = _task_and_params(teacher[0])
  batch = dict(_batch(task), mask=np.ones(16, bool))
  sums = jax.jit(task.eval_sums)(params, batch)
  logits, features = jax.jit(task.model.apply)({'params': params}, batch['image'])
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


def test_a_bad_teacher_is_a_clear_error_before_the_first_step(tmp_path, teacher):
  def teacher_error(workdir):
    config = _student_config(str(workdir))
    task = tasks.build_task(config)
    with pytest.raises(errors.UserInputError) as error:
      preflight.check(config, task)
    assert str(error.value).startswith('found before training: ')
    return str(error.value)

  assert 'has no config.json' in teacher_error(tmp_path / 'missing')
  empty = tmp_path / 'no_checkpoint'
  _save_teacher(empty)
  paths.resolve(empty / 'checkpoints').rmtree()
  assert 'the teacher: ' in teacher_error(empty)
  other_classes = tmp_path / 'five_classes'
  _save_teacher(other_classes)
  config_file = other_classes / 'config.json'
  config_file.write_text(config_file.read_text().replace('"num_classes": 10',
                                                         '"num_classes": 5'))
  assert 'model.num_classes=5' in teacher_error(other_classes)


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
