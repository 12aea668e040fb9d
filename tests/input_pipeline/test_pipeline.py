"""input_pipeline: offline datasets, determinism, exact restart, padded eval, sharding, errors."""
import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

import input_pipeline
from input_pipeline import builders, sources
from configs import common, vit_mnist5k
from tests.helpers import generated_tfds


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tfds'))


def _digits_input(data_dir, **overrides):
  config = common.smoke(common.base()).input
  config.data_dir = data_dir
  config.update(overrides)
  return config


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def test_mnist5k_splits_are_balanced_and_disjoint():
  splits = builders.load_mnist5k()
  train_images, train_labels = splits['train']
  test_images, test_labels = splits['test']
  assert len(train_labels) == 4000 and len(test_labels) == 1000
  assert set(np.bincount(train_labels)) == {400} and set(np.bincount(test_labels)) == {100}
  digest = lambda images: {hashlib.sha1(i.tobytes()).hexdigest() for i in images}
  assert not digest(train_images) & digest(test_images)


def test_mnist5k_through_tfds(data_dir):
  config = vit_mnist5k.get_config().input
  config.data_dir = data_dir
  assert input_pipeline.num_examples(config, 'train') == 4000
  assert input_pipeline.num_examples(config, 'test') == 1000
  batch = next(input_pipeline.get_iterator(config, 'train', train=True, global_batch_size=16,
                                           seed=0))
  assert batch['image'].shape == (16, 28, 28, 1) and batch['image'].dtype == np.float32
  assert batch['label'].dtype == np.int32
  assert -1.0 <= batch['image'].min() < batch['image'].max() <= 1.0


def test_digits_batches(data_dir):
  config = _digits_input(data_dir)
  batch = next(input_pipeline.get_iterator(config, 'train', train=True, global_batch_size=32,
                                           seed=0))
  assert batch['image'].shape == (32, 8, 8, 1) and set(batch) == {'image', 'label'}
  assert 0 <= batch['label'].min() and batch['label'].max() <= 9


def test_same_seed_same_batches_and_restart_reproduces_the_stream(data_dir):
  config = _digits_input(data_dir)
  stream = lambda **kw: input_pipeline.get_iterator(config, 'train', train=True,
                                                    global_batch_size=32, seed=3, **kw)
  first, again = _take(stream(), 60), _take(stream(), 60)  # 60 x 32 > 1,497: crosses an epoch.
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a['image'], b['image'])
  restarted = _take(stream(start_step=50), 10)
  for a, b in zip(first[50:], restarted):
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  other_seed = next(input_pipeline.get_iterator(config, 'train', train=True,
                                                global_batch_size=32, seed=4))
  assert not np.array_equal(other_seed['image'], first[0]['image'])


def test_epochs_are_reshuffled_and_cover_the_split(data_dir):
  config = _digits_input(data_dir, **common.image_pp('resize'))
  batches = _take(input_pipeline.get_iterator(config, 'train', train=True,
                                              global_batch_size=1497, seed=0), 2)
  key = lambda b: sorted(hashlib.sha1(i.tobytes()).hexdigest() for i in b['image'])
  assert key(batches[0]) == key(batches[1])  # each epoch is the whole split ...
  assert not np.array_equal(batches[0]['label'], batches[1]['label'])  # ... in a new order


def test_eval_pass_covers_every_example_once_with_mask(data_dir):
  config = _digits_input(data_dir)
  batches = list(input_pipeline.get_iterator(config, 'test', train=False, global_batch_size=128,
                                             seed=0))
  assert len(batches) == 3
  assert all(b['image'].shape == (128, 8, 8, 1) for b in batches)
  assert sum(b['mask'].sum() for b in batches) == 300
  assert not batches[-1]['mask'][300 - 256:].any()


def test_processes_read_disjoint_shards_and_stay_in_lockstep(data_dir):
  config = _digits_input(data_dir)
  per_process = [list(input_pipeline.get_iterator(config, 'test', train=False,
                                                  global_batch_size=64, seed=0,
                                                  process_index=i, process_count=2))
                 for i in range(2)]
  assert len(per_process[0]) == len(per_process[1])
  seen = [np.concatenate([b['image'][b['mask']] for b in batches]) for batches in per_process]
  assert len(seen[0]) + len(seen[1]) == 300
  digest = lambda images: {hashlib.sha1(i.tobytes()).hexdigest() for i in images}
  assert not digest(seen[0]) & digest(seen[1])


def test_image_folder(tmp_path):
  rng = np.random.default_rng(0)
  for split, count in (('train', 4), ('test', 2)):
    for name in ('cat', 'dog', 'fox'):
      os.makedirs(tmp_path / split / name)
      for i in range(count):
        pixels = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / split / name / f'{i}.png')
  config = _digits_input('', dataset=f'image_folder:{tmp_path}', image_size=16, channels=3,
                         **common.image_pp('random_resized_crop|flip_lr'))
  assert input_pipeline.class_names(config) == ['cat', 'dog', 'fox']
  assert input_pipeline.num_examples(config, 'train') == 12
  batch = next(input_pipeline.get_iterator(config, 'train', train=True, global_batch_size=6,
                                           seed=0))
  assert batch['image'].shape == (6, 16, 16, 3)
  evals = list(input_pipeline.get_iterator(config, 'test', train=False, global_batch_size=4,
                                           seed=0))
  assert sorted(np.concatenate([b['label'][b['mask']] for b in evals])) == [0, 0, 1, 1, 2, 2]


def test_empty_image_folder_is_a_clear_error(tmp_path):
  os.makedirs(tmp_path / 'train' / 'cat')
  config = _digits_input('', dataset=f'image_folder:{tmp_path}')
  with pytest.raises(ValueError, match='no .* images under'):
    input_pipeline.num_examples(config, 'train')


def test_unknown_split_lists_the_available_ones(data_dir):
  with pytest.raises(ValueError, match=r"no split 'validation'.*'test', 'train'"):
    input_pipeline.num_examples(_digits_input(data_dir), 'validation')


@pytest.mark.parametrize('name,hint', [('cifar10', 'tfds build cifar10'),
                                       ('imagenet2012', 'downloads/manual')])
def test_unprepared_tfds_dataset_fails_at_once_with_instructions(tmp_path, name, hint):
  config = _digits_input(str(tmp_path), dataset=name)
  with pytest.raises(sources.DatasetNotPreparedError, match=hint) as error:
    input_pipeline.num_examples(config, 'train')
  assert 'configs/vit_mnist5k.py' in str(error.value)
  assert not os.listdir(tmp_path) or 'downloads' not in os.listdir(tmp_path)


def test_fashion_mnist_from_the_debian_package(tmp_path):
  if not os.path.exists(builders.FASHION_MNIST_DIR):
    if os.environ.get('CI') == 'true':
      pytest.fail(f'{builders.FASHION_MNIST_DIR} missing: .ci/run installs dataset-fashion-mnist')
    pytest.skip('needs Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)')
  config = _digits_input(str(tmp_path), dataset='fashion_mnist', image_size=28)
  assert input_pipeline.num_examples(config, 'train') == 60_000
  assert input_pipeline.num_examples(config, 'test') == 10_000
  assert input_pipeline.class_names(config)[-1] == 'Ankle boot'


@pytest.mark.parametrize('name,num_classes', [('oxford_flowers102', 102),
                                              ('imagenet2012', 1000)])
def test_real_tfds_datasets_run_through_train_and_eval_paths(tmp_path, name, num_classes):
  generated_tfds.prepare(name, str(tmp_path), {'train': 12, 'validation': 12})
  config = _digits_input(str(tmp_path), dataset=name, image_size=32, channels=3,
                         cache=False, **common.image_pp('random_resized_crop|flip_lr'))
  assert len(input_pipeline.class_names(config)) == num_classes
  batch = next(input_pipeline.get_iterator(config, 'train', train=True, global_batch_size=4,
                                           seed=0))
  assert batch['image'].shape == (4, 32, 32, 3)
  evals = list(input_pipeline.get_iterator(config, 'validation', train=False,
                                           global_batch_size=8, seed=0))
  assert [b['mask'].sum() for b in evals] == [8, 4]
  assert all(b['image'].shape == (8, 32, 32, 3) for b in evals)


def test_train_stream_of_num_steps_ends_after_exactly_those_batches(data_dir):
  config = _digits_input(data_dir)
  stream = lambda **kw: input_pipeline.get_iterator(config, 'train', train=True,
                                                    global_batch_size=32, seed=3, **kw)
  endless = _take(stream(), 8)
  finite = list(stream(start_step=5, num_steps=3))
  assert len(finite) == 3
  for a, b in zip(endless[5:], finite):
    np.testing.assert_array_equal(a['image'], b['image'])


def test_tfrecord_dataset_names_the_conversion_that_makes_it_random_access(tmp_path):
  """TFDS prepares TFRecord by default, which reads in order only: the error's command adds
  ArrayRecord files beside them, and then the same config trains."""
  builder = generated_tfds.prepare('oxford_flowers102', str(tmp_path), {'train': 6},
                                   file_format='tfrecord')
  config = _digits_input(str(tmp_path), dataset='oxford_flowers102', image_size=16, channels=3,
                         cache=False)
  stream = lambda: input_pipeline.get_iterator(config, 'train', train=True, global_batch_size=2,
                                               seed=0)
  with pytest.raises(sources.DatasetNotPreparedError,
                     match='input_pipeline.to_array_record') as error:
    stream()
  tfrecord_stream = builder.as_dataset(split='train', shuffle_files=False)
  command = re.search(r'`python (-m input_pipeline.to_array_record [^`]*)`',
                      str(error.value)).group(1).split()
  subprocess.run([sys.executable, *command], check=True, capture_output=True)
  assert builder.data_dir in command[2]
  assert next(stream())['image'].shape == (2, 16, 16, 3)
  converted = sources.get_source(config).examples('train')
  images = converted.read(np.arange(len(converted)))['image']
  for encoded, example in zip(images, tfds.as_numpy(tfrecord_stream), strict=True):
    np.testing.assert_array_equal(tf.io.decode_image(encoded), example['image'])


def test_image_folder_labels_follow_the_training_split_classes(tmp_path):
  """A test split without 'cat' keeps 'dog' at label 1; a class unknown to train is an error."""
  for split, names in (('train', ('cat', 'dog', 'fox')), ('test', ('dog', 'fox'))):
    for name in names:
      os.makedirs(tmp_path / split / name)
      Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / split / name / '0.png')
  config = _digits_input('', dataset=f'image_folder:{tmp_path}', image_size=8, channels=3)
  evals = list(input_pipeline.get_iterator(config, 'test', train=False, global_batch_size=2,
                                           seed=0))
  assert evals[0]['label'].tolist() == [1, 2]
  os.makedirs(tmp_path / 'test' / 'owl')
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / 'test' / 'owl' / '0.png')
  with pytest.raises(ValueError, match=r"classes that the training split 'train' lacks: \['owl'\]"):
    input_pipeline.num_examples(config, 'test')


def test_global_batch_does_not_depend_on_the_number_of_processes(data_dir):
  """Rows are chosen and augmented by their global stream position: 4 processes' rows, put
  together, are the one-process batch, at the start and after a restart deep in epoch 3."""
  config = _digits_input(data_dir, **common.image_pp('pad_crop(1)|flip_lr'))
  for start_step in (0, 150):
    one = next(input_pipeline.get_iterator(config, 'train', train=True, global_batch_size=32,
                                           seed=1, start_step=start_step))
    parts = [next(input_pipeline.get_iterator(config, 'train', train=True,
                                              global_batch_size=32, seed=1,
                                              start_step=start_step, process_index=i,
                                              process_count=4)) for i in range(4)]
    for key in ('image', 'label'):
      np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), one[key])


def test_batch_size_not_divisible_by_processes_is_refused_at_once(data_dir):
  with pytest.raises(ValueError, match='batch size 30 is not divisible by 4 processes'):
    input_pipeline.get_iterator(_digits_input(data_dir), 'train', train=True,
                                global_batch_size=30, seed=0, process_count=4)
