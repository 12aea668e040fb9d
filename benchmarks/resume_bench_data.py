"""The records of benchmarks/resume_bench.py: TFDS's `big_uni_resume_bench`, registered by
importing this module. Its own module, not resume_bench's: TFDS finds a builder's files through
the package of the builder's module, and `python -m benchmarks.resume_bench` runs as __main__.
"""
import numpy as np

from input_pipeline.tf_cpu import tf, tfds

SIZES = {'imagenet': 1_281_167, 'small': 10_000}  # ImageNet's train split.


class BigUniResumeBench(tfds.core.GeneratorBasedBuilder):
  """Tiny records for the restart benchmark: image i is a 4x4 grey PNG, label i % 1000."""
  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name, description=f'{size:,} records')
                     for name, size in SIZES.items()]

  def _info(self):
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        'image': tfds.features.Image(shape=(4, 4, 1)),
        'label': tfds.features.ClassLabel(num_classes=1000)}))

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated.
    return {'train': self._generate_examples(SIZES[self.builder_config.name])}

  def _generate_examples(self, size: int):
    # 256 distinct encoded images, reused: encoding 1.28M PNGs would dominate the set-up.
    pngs = [tf.io.encode_png(np.full((4, 4, 1), v, np.uint8)).numpy() for v in range(256)]
    for i in range(size):
      yield i, {'image': pngs[i % 256], 'label': i % 1000}
