"""The batch a task declares: synthetic batches drawn from it, and the check against the data."""
import contextlib
import importlib

import numpy as np
import pytest

from big_uni import config_schema, data, errors, tasks
from big_uni.tasks import batch as batch_lib

SMOKE_CONFIGS = ('vit_mnist5k', 'clip_fashion_mnist', 'bert_austen', 'bert_classify')


def _smoke(name):
  return config_schema.complete(importlib.import_module(f'configs.{name}').get_config('smoke'))


@pytest.mark.parametrize('name', SMOKE_CONFIGS)
def test_synthetic_batches_are_the_declared_batch(name):
  task = tasks.build_task(_smoke(name))
  batch = task.synthetic_batch(np.random.default_rng(0), 3)
  assert sorted(batch) == sorted(task.batch_fields)
  batch_lib.check(batch, task.batch_spec, name, 'synthetic')
  for field_name, field in task.batch_spec.items():
    if field.high is not None:
      assert field.low <= batch[field_name].min() and batch[field_name].max() < field.high
    if field.distinct:  # One target per position: a tiny model can fit every row.
      assert (np.diff(batch[field_name], axis=-1) > 0).all()


def test_the_check_names_each_disagreement():
  spec = {'image': batch_lib.Field((4, 4, 1), 'float32'),
          'label': batch_lib.Field((), 'int32', high=3)}
  batch = {'image': np.zeros((2, 5, 4, 1), np.float32), 'labels': np.zeros(2, np.int32)}
  with pytest.raises(errors.UserInputError) as refused:
    batch_lib.check(batch, spec, 'classification', 'input.dataset=x')
  message = str(refused.value)
  assert "'image' float32 [5, 4, 1] per row where the task expects float32 [4, 4, 1]" in message
  assert "no 'label' (it gives ['image', 'labels'])" in message
  batch_lib.check({'image': np.zeros((2, 4, 4, 1), np.float32),
                   'label': np.zeros(2, np.int32)}, spec, 'classification', 'x')


def test_a_bool_prefix_mask_has_at_least_its_minimum_length():
  spec = {'mask': batch_lib.Field((6,), 'bool', min_length=3)}
  masks = batch_lib.synthetic(spec, np.random.default_rng(0), 50)['mask']
  lengths = masks.sum(1)
  assert lengths.min() >= 3 and lengths.max() <= 6 and len(set(lengths)) > 1
  assert (masks == (np.arange(6) < lengths[:, None])).all()  # A prefix.


def test_real_batches_are_checked_against_the_task_and_trimmed_to_it():
  """The quickstart's smoke data (8 px digits) feeds its task; a task built for 32 px images is
  refused with the shapes of both, on the first batch, before any step."""
  config = _smoke('vit_mnist5k')
  task = tasks.build_task(config)
  with contextlib.closing(data.Data(config, task).batches('test', train=False)) as batches:
    assert sorted(next(batches)) == ['image', 'label', 'mask']
  other = _smoke('vit_mnist5k')
  other.input.image_size = 32
  batches = data.Data(config, tasks.build_task(other)).batches('train', train=True)
  with contextlib.closing(batches), pytest.raises(errors.UserInputError, match=(
      r"the classification task and its data disagree: input.dataset='digits' \('train'\) "
      r"gives 'image' float32 \[8, 8, 1\] per row where the task expects float32 \[32, 32, 1\]")):
    next(batches)
