"""Real TFDS builders prepared offline from generated examples of their own feature specs, so
their metadata, record files and decoding run without a download."""
import numpy as np
import tensorflow_datasets as tfds


def prepare(name: str, data_dir: str, split_sizes: dict[str, int],
            file_format: str = 'array_record'):
  """Prepares builder `name` with `split_sizes[split]` examples per split: random-size images,
  labels cycling through the classes, texts of two sentences and a second paragraph, one box."""
  builder = tfds.builder(name, data_dir=data_dir)
  rng = np.random.default_rng(0)

  def example(i):
    values = {}
    for key, feature in builder.info.features.items():
      if isinstance(feature, tfds.features.Image):
        channels = feature.shape[-1] or 3
        values[key] = rng.integers(0, 255, (*rng.integers(40, 90, 2), channels), dtype=np.uint8)
      elif isinstance(feature, tfds.features.BBoxFeature):
        values[key] = tfds.features.BBox(ymin=0.1, xmin=0.2, ymax=0.7, xmax=0.9)
      elif isinstance(feature, tfds.features.ClassLabel):
        values[key] = i % feature.num_classes
      elif isinstance(feature, tfds.features.Text):
        values[key] = f'The {key} of example {i}. It has two sentences.\nA second paragraph.'
      else:
        values[key] = i
    return values

  def split_generators(dl_manager, **unused_kwargs):
    del dl_manager  # Nothing is downloaded.
    return {split: ((i, example(i)) for i in range(size)) for split, size in split_sizes.items()}

  builder._split_generators = split_generators  # pylint: disable=protected-access
  builder.download_and_prepare(file_format=file_format)
  return builder
