"""Where examples come from: TFDS datasets by name (ours prepare offline) and image folders.

A source opens a split as `Examples`: random access by index, so a pipeline reads exactly the
rows of each batch (sampling.py) and a restart at any step costs one permutation. An example is
{'image': encoded image bytes (PNG/JPEG), 'label': int64} plus, for captioned data
(caption_sources.py), 'captions': bytes (an image's captions joined by newlines).
"""
import dataclasses
import difflib
import functools
import os
from typing import Callable

import numpy as np
from absl import logging

from input_pipeline import builders, config_schema, dataset_prefixes, errors
from input_pipeline.registry import Registry
from input_pipeline.tf_cpu import tf, tfds

# Config names of the offline datasets -> their builders (prepared on first use, no download).
OFFLINE = {
    'mnist5k': 'big_uni_mnist5k',
    'digits': 'big_uni_digits',
}
# input.dataset '<prefix>:<path>' -> (path, input config) -> its image source (registered below
# the sources; dataset_prefixes.py); a dataset without one of these prefixes is a TFDS name.
PREFIXED = Registry('image dataset prefix')
OFFLINE_CONFIGS = 'configs/vit_mnist5k.py (MNIST-5k, pip-only) or configs/vit_fashion_mnist.py'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
IMAGE_SIGNATURE = {'image': tf.TensorSpec((), tf.string), 'label': tf.TensorSpec((), tf.int64)}


class DatasetNotPreparedError(errors.UserInputError, FileNotFoundError):
  """A TFDS dataset that must be downloaded or prepared by hand first."""


@dataclasses.dataclass(frozen=True)
class Examples:
  """Random access to the examples of one split: `read(indices int64 [n])` gives
  {key: numpy array [n, ...]} with the keys and per-example tf.TensorSpecs of `signature`
  (tf.string as object arrays of bytes)."""
  size: int
  signature: dict
  read: Callable[[np.ndarray], dict]

  def __len__(self):
    return self.size


def stacked(rows: list[dict], signature: dict) -> dict:
  """[{key: value}] -> {key: array [n, ...]}, typed by `signature`."""
  return {key: np.array([row[key] for row in rows],
                        object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
          for key, spec in signature.items()}


class TfdsSource:
  """A TFDS dataset stored as ArrayRecord (random access), read through `tfds.data_source`."""
  signature = IMAGE_SIGNATURE
  # Images stay encoded here: the pipeline's parallel map decodes them.
  decoders = {'image': tfds.decode.SkipDecoding()}

  def __init__(self, name: str, data_dir: str | None, download: bool):
    self.name = name
    self.key = ('tfds', name, data_dir)  # What the examples are a function of.
    if not _known_locally(name, data_dir):
      # tfds.builder would look for a community dataset on GCS: minutes of retries offline.
      raise errors.UserInputError(_unknown_dataset_message(name))
    try:
      self.builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
      raise errors.UserInputError(_unknown_dataset_message(name)) from None
    if not _is_prepared(self.builder):
      if not (download or name.startswith('big_uni_')):  # Ours prepare from local files.
        raise DatasetNotPreparedError(_not_prepared_message(self.builder))
      # ArrayRecord, not TFDS's default TFRecord, which can only be read in order.
      self.builder.download_and_prepare(file_format='array_record')
    _restore_alternative_formats(self.builder.info)

  @property
  def class_names(self):
    label = self.builder.info.features['label']
    return list(label.names) if hasattr(label, 'names') else None

  def num_examples(self, split: str) -> int:
    return self.builder.info.splits[self._check_split(split)].num_examples

  def examples(self, split: str) -> Examples:
    split = self._check_split(split)
    try:
      source = self.builder.as_data_source(split=split, decoders=self.decoders)
    except NotImplementedError:  # TFDS's answer for formats without random access.
      raise DatasetNotPreparedError(_not_random_access_message(self.builder)) from None
    read = lambda indices: stacked([self.fields(example) for example in
                                    source.__getitems__(indices.tolist())], self.signature)
    return Examples(len(source), self.signature, read)

  def fields(self, example) -> dict:
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


def _restore_alternative_formats(info) -> None:
  """TFDS 4.9 reads the formats added beside a registered dataset's files (to_array_record.py)
  into the info proto but not into the list `as_data_source` chooses from."""
  listed = [f.value for f in info.alternative_file_formats]
  for file_format in list(info.as_proto.alternative_file_formats):
    if file_format not in listed:
      info.alternative_file_formats.append(tfds.core.file_adapters.FileFormat(file_format))


def _known_locally(name: str, data_dir: str | None) -> bool:
  """A registered TFDS builder, or a dataset prepared under the data dir ('name/config:1.0')."""
  base = name.split(':')[0].split('/')[0]
  if base in tfds.list_builders(with_community_datasets=False):
    return True
  return tf.io.gfile.exists(os.path.join(data_dir or tfds.core.constants.DATA_DIR, base))


def _unknown_dataset_message(name: str) -> str:
  ours = [*OFFLINE, 'fashion_mnist', 'synthetic']
  builders = tfds.list_builders(with_community_datasets=False)
  close = difflib.get_close_matches(name, ours + builders, n=3, cutoff=0.6)
  hint = f' Did you mean {" or ".join(close)}?' if close else ''
  return (f'unknown dataset {name!r}: input.dataset is a TFDS name, one of {ours}, or '
          f'image_folder:<path>.{hint}')


def _is_prepared(builder) -> bool:
  return tf.io.gfile.exists(os.path.join(builder.data_dir, 'dataset_info.json'))


def _data_root(builder) -> str:
  """The data_dir above <name, which may hold '/'>/<version>."""
  root = builder.data_dir
  for _ in range(builder.info.full_name.count('/') + 1):
    root = os.path.dirname(root)
  return root


def _not_prepared_message(builder) -> str:
  root = _data_root(builder)
  message = (f'TFDS dataset {builder.name!r} is not prepared in {root}. Prepare it with '
             f'`tfds build {builder.name} --data_dir={root} --file_format=array_record` (needs '
             'internet), or set --config.input.download=True to do it from the run.')
  if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
    message += (f' {builder.name} needs a manual download first: put its files in '
                f'{os.path.join(root, "downloads", "manual")}/ (see the TFDS catalog page).')
  return message + f' Offline alternatives: {OFFLINE_CONFIGS}.'


def _not_random_access_message(builder) -> str:
  return (f'TFDS dataset {builder.name!r} in {builder.data_dir} is stored as '
          f'{builder.info.file_format.value}, which is read in order only; big_uni reads '
          'examples by index (exact restarts at any step). Add ArrayRecord files beside it with '
          f'`python -m input_pipeline.to_array_record --dataset_version_dir={builder.data_dir}`'
          f', or prepare it again with `tfds build {builder.name} --file_format=array_record`.')


class ImageFolderSource:
  """Users' own images laid out as <root>/<split>/<class name>/<file>.{jpg,jpeg,png}.

  The classes are those of the training split, numbered in sorted order, for every split (a test
  split that lacks a class keeps the others' labels); a class that the training split lacks is
  an error. A split's images are all decoded once, when it is first listed: a file that does not
  decode stops the run naming it (on_corrupt_image='fail'), or is left out and counted ('skip').
  """
  signature = IMAGE_SIGNATURE

  def __init__(self, root: str, train_split: str, on_corrupt_image: str = 'fail'):
    self.root, self.train_split, self.on_corrupt_image = root, train_split, on_corrupt_image
    self.key = ('image_folder', root, train_split, on_corrupt_image)
    if on_corrupt_image not in ('fail', 'skip'):
      raise errors.UserInputError(f"input.on_corrupt_image={on_corrupt_image!r}: use 'fail' or "
                                  "'skip'")
    if not os.path.isdir(root):
      raise errors.UserInputError(f'image folder {root!r} does not exist: check the path in '
                                  'input.dataset=image_folder:<path>')

  def _split_dir(self, split: str) -> str:
    split_dir = os.path.join(self.root, split)
    if not os.path.isdir(split_dir):
      raise errors.UserInputError(
          f'image folder {self.root!r} has no split {split!r}; available: '
          f'{sorted(os.listdir(self.root))}: set input.train_split / input.eval_split to one')
    return split_dir

  def _classes(self, split: str) -> list[str]:
    split_dir = self._split_dir(split)
    return sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d)))

  @property
  def class_names(self) -> list[str]:
    return self._classes(self.train_split)

  def _files(self, split: str) -> list[tuple[str, int]]:
    split_dir, classes = self._split_dir(split), self.class_names
    unknown = sorted(set(self._classes(split)) - set(classes))
    if unknown:
      raise errors.UserInputError(
          f'{split_dir} has classes that the training split {self.train_split!r} lacks: '
          f'{unknown[:5]}: a model trained on {self.train_split!r} cannot predict them; move '
          'them to the training split too, or remove them')
    files = [(os.path.join(split_dir, c, f), classes.index(c)) for c in self._classes(split)
             for f in sorted(os.listdir(os.path.join(split_dir, c)))
             if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
      raise errors.UserInputError(f'no {"/".join(IMAGE_EXTENSIONS)} images under '
                                  f'{split_dir}/<class>/: add images or pick another split')
    return decodable(tuple(files), self.on_corrupt_image, split_dir)

  def num_examples(self, split: str) -> int:
    return len(self._files(split))

  def examples(self, split: str) -> Examples:
    files = self._files(split)

    def read(indices: np.ndarray) -> dict:
      return stacked([{'image': read_bytes(files[i][0]), 'label': files[i][1]}
                      for i in indices.tolist()], self.signature)

    return Examples(len(files), self.signature, read)


PREFIXED.register('image_folder', lambda path, config: ImageFolderSource(
    path, config.train_split, config.on_corrupt_image))


def read_bytes(path: str) -> bytes:
  with open(path, 'rb') as f:
    return f.read()


@functools.lru_cache(maxsize=None)
def decodable(files: tuple, on_corrupt_image: str, split_dir: str) -> list:
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
        f'corrupt image {corrupt[0]} ({len(corrupt)} of the {len(files)} images of '
        f'{split_dir} do not decode): replace or delete it, or set '
        '--config.input.on_corrupt_image=skip to train without such images')
  if corrupt:
    logging.warning('skipped %d of the %d images of %s that do not decode '
                    '(input.on_corrupt_image=skip): %s', len(corrupt), len(files), split_dir,
                    ', '.join(corrupt[:5]) + (' ...' if len(corrupt) > 5 else ''))
  return [pair for i, pair in enumerate(files) if i in good]


def get_source(input_config):
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  source = dataset_prefixes.opened(input_config, PREFIXED)
  if source is not None:
    return source
  dataset = input_config.dataset
  data_dir = input_config.data_dir or None
  download = input_config.download
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
