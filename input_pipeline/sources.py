"""Where examples come from: TFDS datasets by name (ours prepare offline) and image folders.

A source reads one process's shard of a split as a tf.data.Dataset of
{'image': uint8 [H, W, C], 'label': int64 []}, in a fixed order.
"""
import os

import tensorflow as tf
import tensorflow_datasets as tfds

from big_uni import errors
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
    self.builder = tfds.builder(name, data_dir=data_dir)
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
    base = split.split('[')[0]  # TFDS slicing such as 'train[:90%]' is allowed.
    if base not in self.builder.info.splits:
      raise ValueError(f'dataset {self.name!r} has no split {base!r}; available: '
                       f'{sorted(self.builder.info.splits)}')
    return split


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
  """Users' own images laid out as <root>/<split>/<class name>/<file>.{jpg,jpeg,png}."""

  def __init__(self, root: str, channels: int):
    self.root, self.channels = root, channels
    if not os.path.isdir(root):
      raise FileNotFoundError(f'image folder {root!r} does not exist')

  def _files(self, split: str):
    split_dir = os.path.join(self.root, split)
    if not os.path.isdir(split_dir):
      raise ValueError(f'image folder {self.root!r} has no split {split!r}; available: '
                       f'{sorted(os.listdir(self.root))}')
    classes = sorted(d for d in os.listdir(split_dir)
                     if os.path.isdir(os.path.join(split_dir, d)))
    files = [(os.path.join(split_dir, c, f), label) for label, c in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(split_dir, c)))
             if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
      raise ValueError(f'no {"/".join(IMAGE_EXTENSIONS)} images under {split_dir}/<class>/')
    return classes, files

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


def get_source(input_config):
  dataset = input_config.dataset
  if dataset.startswith('image_folder:'):
    return ImageFolderSource(dataset.split(':', 1)[1], input_config.channels)
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
