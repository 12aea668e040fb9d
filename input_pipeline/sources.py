"""Where examples come from: TFDS datasets by name (ours prepare offline) and image folders.

A source reads one process's shard of a split as a tf.data.Dataset of
{'image': uint8 [H, W, C], 'label': int64 []}, in a fixed order.
"""
import difflib
import functools
import os

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from input_pipeline import errors
from input_pipeline import builders

# Config names of the offline datasets -> their builders (prepared on first use, no download).
OFFLINE = {
    'mnist5k': 'big_uni_mnist5k',
    'digits': 'big_uni_digits',
}
OFFLINE_CONFIGS = 'configs/vit_mnist5k.py (MNIST-5k, pip-only) or configs/vit_fashion_mnist.py'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


class DatasetNotPreparedError(errors.UserInputError, FileNotFoundError):
  """A TFDS dataset that must be downloaded or prepared by hand first."""


class TfdsSource:
  """A TFDS dataset; each process reads `tfds.even_splits(split, process_count)[process_index]`."""

  def __init__(self, name: str, data_dir: str | None, download: bool):
    self.name = name
    try:
      self.builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
      raise errors.UserInputError(_unknown_dataset_message(name)) from None
    if not _is_prepared(self.builder):
      if not (download or name.startswith('big_uni_')):  # Ours prepare from local files.
        raise DatasetNotPreparedError(_not_prepared_message(self.builder))
      self.builder.download_and_prepare()

  @property
  def class_names(self):
    label = self.builder.info.features['label']
    return list(label.names) if hasattr(label, 'names') else None

  def num_examples(self, split: str) -> int:
    return self.builder.info.splits[self._check_split(split)].num_examples

  def read(self, split: str, process_index: int, process_count: int) -> tf.data.Dataset:
    shard = tfds.even_splits(self._check_split(split), n=process_count)[process_index]
    ds = self.builder.as_dataset(split=shard, shuffle_files=False,
                                 read_config=tfds.ReadConfig(interleave_cycle_length=1))
    return ds.map(self.fields)

  def fields(self, example):
    """What the pipeline reads of a TFDS example (caption_sources.py reads the captions)."""
    return {'image': example['image'], 'label': example['label']}

  def _check_split(self, split: str) -> str:
    # TFDS slicing and unions such as 'train[:90%]' and 'train+validation' are allowed.
    for base in (part.split('[')[0] for part in split.split('+')):
      if base not in self.builder.info.splits:
        raise errors.UserInputError(
            f'dataset {self.name!r} has no split {base!r}; available: '
            f'{sorted(self.builder.info.splits)}: set input.train_split / input.eval_split to '
            'one')
    return split


def _unknown_dataset_message(name: str) -> str:
  ours = [*OFFLINE, 'fashion_mnist', 'synthetic']
  close = difflib.get_close_matches(name, ours + list(tfds.list_builders()), n=3, cutoff=0.6)
  hint = f' Did you mean {" or ".join(close)}?' if close else ''
  return (f'unknown dataset {name!r}: input.dataset is a TFDS name, one of {ours}, or '
          f'image_folder:<path>.{hint}')


def _is_prepared(builder) -> bool:
  return tf.io.gfile.exists(os.path.join(builder.data_dir, 'dataset_info.json'))


def _not_prepared_message(builder) -> str:
  root = os.path.dirname(os.path.dirname(builder.data_dir))  # <data_dir>/<name>/<version>
  message = (f'TFDS dataset {builder.name!r} is not prepared in {root}. Prepare it with '
             f'`tfds build {builder.name} --data_dir={root}` (needs internet), or set '
             f'--config.input.download=True to do it from the run.')
  if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
    message += (f' {builder.name} needs a manual download first: put its files in '
                f'{os.path.join(root, "downloads", "manual")}/ (see the TFDS catalog page).')
  return message + f' Offline alternatives: {OFFLINE_CONFIGS}.'


class ImageFolderSource:
  """Users' own images laid out as <root>/<split>/<class name>/<file>.{jpg,jpeg,png}.

  A split's images are all decoded once, when it is first listed: a file that does not decode
  stops the run naming it (on_corrupt_image='fail'), or is left out and counted ('skip')."""

  def __init__(self, root: str, channels: int, on_corrupt_image: str = 'fail'):
    self.root, self.channels, self.on_corrupt_image = root, channels, on_corrupt_image
    if on_corrupt_image not in ('fail', 'skip'):
      raise errors.UserInputError(f"input.on_corrupt_image={on_corrupt_image!r}: use 'fail' or "
                                  "'skip'")
    if not os.path.isdir(root):
      raise errors.UserInputError(f'image folder {root!r} does not exist: check the path in '
                                  'input.dataset=image_folder:<path>')

  def _files(self, split: str):
    split_dir = os.path.join(self.root, split)
    if not os.path.isdir(split_dir):
      raise errors.UserInputError(
          f'image folder {self.root!r} has no split {split!r}; available: '
          f'{sorted(os.listdir(self.root))}: set input.train_split / input.eval_split to one')
    classes = sorted(d for d in os.listdir(split_dir)
                     if os.path.isdir(os.path.join(split_dir, d)))
    files = [(os.path.join(split_dir, c, f), label) for label, c in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(split_dir, c)))
             if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
      raise errors.UserInputError(f'no {"/".join(IMAGE_EXTENSIONS)} images under '
                                  f'{split_dir}/<class>/: add images or pick another split')
    return classes, _decodable(tuple(files), self.on_corrupt_image, split_dir)

  @property
  def class_names(self):
    return self._files(sorted(os.listdir(self.root))[0])[0]

  def num_examples(self, split: str) -> int:
    return len(self._files(split)[1])

  def read(self, split: str, process_index: int, process_count: int) -> tf.data.Dataset:
    files = self._files(split)[1][process_index::process_count]
    paths, labels = zip(*files)

    def decode(path, label):
      image = tf.io.decode_image(tf.io.read_file(path), channels=self.channels,
                                 expand_animations=False)
      return {'image': image, 'label': label}

    return tf.data.Dataset.from_tensor_slices((list(paths), list(labels))).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@functools.lru_cache(maxsize=None)
def _decodable(files: tuple, on_corrupt_image: str, split_dir: str) -> list:
  """The (path, label) pairs whose file decodes as an image, checked in one parallel pass (once
  per process: sources are built several times per run)."""
  paths = tf.data.Dataset.from_tensor_slices([path for path, _ in files])
  decoded = paths.enumerate().map(
      lambda i, path: (i, tf.shape(tf.io.decode_image(tf.io.read_file(path),
                                                      expand_animations=False))),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).ignore_errors()
  good = {int(i) for i, _ in decoded.as_numpy_iterator()}
  corrupt = [path for i, (path, _) in enumerate(files) if i not in good]
  if corrupt and on_corrupt_image == 'fail':
    raise errors.UserInputError(
        f'corrupt image {corrupt[0]} ({len(corrupt)} of the {len(files)} images under '
        f'{split_dir} do not decode): replace or delete it, or set '
        '--config.input.on_corrupt_image=skip to train without such images')
  if corrupt:
    logging.warning('skipped %d of the %d images under %s that do not decode '
                    '(input.on_corrupt_image=skip): %s', len(corrupt), len(files), split_dir,
                    ', '.join(corrupt[:5]) + (' ...' if len(corrupt) > 5 else ''))
  return [pair for i, pair in enumerate(files) if i in good]


def get_source(input_config):
  dataset = input_config.dataset
  if dataset.startswith('image_folder:'):
    return ImageFolderSource(dataset.split(':', 1)[1], input_config.channels,
                             input_config.get('on_corrupt_image', 'fail'))
  data_dir = input_config.get('data_dir') or None
  download = input_config.get('download', False)
  if dataset == 'fashion_mnist':
    fashion_files = os.path.join(builders.FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')
    if os.path.exists(fashion_files):
      return TfdsSource('big_uni_fashion_mnist', data_dir, download)
    try:
      return TfdsSource('fashion_mnist', data_dir, download)
    except DatasetNotPreparedError as e:
      raise DatasetNotPreparedError(f'{e} On Debian, `apt-get install dataset-fashion-mnist` '
                                    f'provides the files offline.') from None
  return TfdsSource(OFFLINE.get(dataset, dataset), data_dir, download)
