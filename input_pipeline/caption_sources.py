"""Where captioned images come from (input.kind='image_text' on data with its own captions):

  coco_captions (or any TFDS dataset with a captions/text feature), read from input.data_dir;
    `tfds build coco_captions --data_dir=...` prepares it (the error says so when it is not).
  captions_tsv:/data/pets/{split}.tsv  one 'relative/path.jpg<TAB>caption' per line, paths
    relative to the tsv's folder; an image on several lines has several captions.
  wds:/data/shards/{split}-*.tar  webdataset-style shards: the members of a sample are
    consecutive and share a key (the name up to the first dot), an image key.jpg|jpeg|png and
    its captions key.txt (one per line); other members (.json, .cls, ...) are ignored.

As in sources.py, a source opens a split for random access (`sources.Examples`), here of
{'image': encoded bytes, 'label': int64 -1, 'captions': bytes}: the image's captions joined by
newlines, chosen from and tokenized after batching (image_text.py).
"""
import glob
import os
import tarfile

import numpy as np

from input_pipeline import config_schema, dataset_prefixes, errors, sources
from input_pipeline.registry import Registry
from input_pipeline.tf_cpu import tf, tfds

# input.dataset '<prefix>:<path>' -> (path, input config) -> its captioned source (registered
# below the sources; dataset_prefixes.py); a dataset without one of these prefixes is a TFDS
# name (coco_captions).
PREFIXED = Registry('captioned dataset prefix')
_NO_LABEL = -1
SIGNATURE = {**sources.IMAGE_SIGNATURE, 'captions': tf.TensorSpec((), tf.string)}


def is_captioned(input_config) -> bool:
  """Whether input.dataset has its own captions (else they are made from its class names)."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  dataset = input_config.dataset
  if dataset_prefixes.prefixed(dataset, PREFIXED):
    return True
  if (dataset_prefixes.prefixed(dataset, sources.PREFIXED)
      or dataset in (*sources.OFFLINE, 'fashion_mnist')):
    return False
  builder = tfds.builder(dataset, data_dir=input_config.data_dir or None)
  return 'captions' in builder.info.features


def _joined(captions) -> bytes:
  return '\n'.join(' '.join(c.split()) for c in captions).encode('utf-8')


def _example(image: bytes, captions: bytes) -> dict:
  return {'image': image, 'label': _NO_LABEL, 'captions': captions}


class TfdsCaptionsSource(sources.TfdsSource):
  """A TFDS dataset whose 'captions' feature is a sequence of {'text': ...} (coco_captions)."""
  class_names = None
  signature = SIGNATURE

  def fields(self, example):
    texts = [t.decode('utf-8', errors='replace') for t in example['captions']['text']]
    return _example(example['image'], _joined(texts))


def _split_path(pattern: str, split: str) -> str:
  if '{split}' not in pattern:
    raise errors.UserInputError(f'{pattern!r} names no split: put {{split}} where the split name goes, '
                     'e.g. captions_tsv:/data/{split}.tsv or wds:/data/{split}-*.tar')
  return pattern.replace('{split}', split)


class TsvSource:
  """Images listed with their captions in <folder>/<split>.tsv (see the module docstring).

  A split's images are checked once, when it is first listed, as image_folder: datasets' are: a
  missing or undecodable file stops the run naming it (on_corrupt_image='fail'), or is left out
  and counted ('skip')."""
  class_names = None

  signature = SIGNATURE

  def __init__(self, pattern: str, on_corrupt_image: str = 'fail'):
    if on_corrupt_image not in ('fail', 'skip'):
      raise errors.UserInputError(f"input.on_corrupt_image={on_corrupt_image!r}: use 'fail' or "
                                  "'skip'")
    self.pattern, self.on_corrupt_image = pattern, on_corrupt_image
    self.key = ('captions_tsv', pattern, on_corrupt_image)

  def _pairs(self, split: str) -> tuple[list[str], list[bytes]]:
    """(image paths, their captions joined by newlines), in order of first appearance."""
    path = _split_path(self.pattern, split)
    if not os.path.isfile(path):
      raise errors.UserInputError(f'captions_tsv: {path} does not exist (split {split!r}): '
                                  'check input.dataset and the split names')
    captions, lines = {}, {}
    with open(path, encoding='utf-8') as f:
      for number, line in enumerate(f, 1):
        if not line.strip():
          continue
        image, _, caption = line.rstrip('\n').partition('\t')
        if not caption.strip():
          raise errors.UserInputError(
              f'{path}:{number}: expected "relative/image/path<TAB>caption"')
        image = os.path.join(os.path.dirname(path), image)
        captions.setdefault(image, []).append(caption)
        lines.setdefault(image, number)
    if not captions:
      raise errors.UserInputError(f'{path} lists no images: add lines or pick another split')
    missing = [image for image in captions if not os.path.isfile(image)]
    if missing and self.on_corrupt_image == 'fail':
      raise errors.UserInputError(
          f'missing image {missing[0]} (listed at {path}:{lines[missing[0]]}; {len(missing)} of '
          f'the {len(captions)} images are missing): fix the path, or set '
          '--config.input.on_corrupt_image=skip to train without such images')
    # Missing files fail to read there too: with 'skip' they are left out and counted.
    good = sources.decodable(tuple((image, i) for i, image in enumerate(captions)),
                             self.on_corrupt_image, path)
    joined = [_joined(c) for c in captions.values()]
    return [image for image, _ in good], [joined[i] for _, i in good]

  def num_examples(self, split: str) -> int:
    return len(self._pairs(split)[0])

  def examples(self, split: str) -> sources.Examples:
    paths, captions = self._pairs(split)
    read = lambda indices: sources.stacked(
        [_example(sources.read_bytes(paths[i]), captions[i]) for i in indices.tolist()],
        self.signature)
    return sources.Examples(len(paths), self.signature, read)


def _samples(shards: list[str]):
  """(shard, tar, key, {extension: member}) of each sample, in shard order."""
  for shard in shards:
    with tarfile.open(shard) as tar:
      key, members = None, {}
      for member in tar:
        if not member.isfile():
          continue
        folder, name = os.path.split(member.name)
        stem, _, extension = name.partition('.')
        sample = os.path.join(folder, stem)
        if sample != key:
          if members:
            yield shard, tar, key, members
          key, members = sample, {}
        members[extension.lower()] = member
      if members:
        yield shard, tar, key, members


class WdsSource:
  """Webdataset-style tar shards (see the module docstring), read by random access: the tar
  headers are scanned once for each sample's member offsets."""
  class_names = None
  signature = SIGNATURE
  IMAGE_EXTENSIONS = ('jpg', 'jpeg', 'png')

  def __init__(self, pattern: str):
    self.pattern = pattern
    self.key = ('wds', pattern)

  def _shards(self, split: str) -> list[str]:
    pattern = _split_path(self.pattern, split)
    shards = sorted(glob.glob(pattern))
    if not shards:
      raise errors.UserInputError(f'wds: no shards match {pattern} (split {split!r}): check '
                                  'input.dataset and the split names')
    return shards

  def _checked_samples(self, split: str):
    """(shard, tar, image member, captions member) of each sample, checked from the headers."""
    for shard, tar, key, members in _samples(self._shards(split)):
      image = next((members[e] for e in self.IMAGE_EXTENSIONS if e in members), None)
      if image is None or 'txt' not in members:
        raise errors.UserInputError(f'{shard}: sample {key!r} has no {"/".join(self.IMAGE_EXTENSIONS)} '
                         f'image and .txt caption pair (it has {sorted(members)})')
      yield shard, tar, image, members['txt']

  def num_examples(self, split: str) -> int:
    return sum(1 for _ in self._checked_samples(split))  # Reads the tar headers only.

  def examples(self, split: str) -> sources.Examples:
    # (shard, (offset, size) of the image, of the captions) of each sample.
    samples = [(shard, (image.offset_data, image.size), (text.offset_data, text.size))
               for shard, _, image, text in self._checked_samples(split)]

    def read(indices: np.ndarray) -> dict:
      rows = []
      for i in indices.tolist():
        shard, image, text = samples[i]
        with open(shard, 'rb') as f:
          captions = [c for c in _member(f, text).decode('utf-8').splitlines() if c.strip()]
          if not captions:
            raise errors.UserInputError(f'{shard}: sample {i} has an empty .txt caption file')
          rows.append(_example(_member(f, image), _joined(captions)))
      return sources.stacked(rows, self.signature)

    return sources.Examples(len(samples), self.signature, read)


def _member(file, offset_and_size: tuple[int, int]) -> bytes:
  file.seek(offset_and_size[0])
  return file.read(offset_and_size[1])


PREFIXED.register('captions_tsv', lambda path, config: TsvSource(path, config.on_corrupt_image))
PREFIXED.register('wds', lambda path, config: WdsSource(path))


def get_source(input_config):
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  source = dataset_prefixes.opened(input_config, PREFIXED)
  if source is None:
    source = TfdsCaptionsSource(input_config.dataset, input_config.data_dir or None,
                                input_config.download)
  return source
