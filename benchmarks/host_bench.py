"""Host input throughput: examples/s, and examples per CPU second (per core), of the ViT and BERT
training pipelines, and how many host cores feed one accelerator at a given rate.

    python -m benchmarks.host_bench --images=2000 --image_size=224 --batch_size=256 --seconds=30

ViT: configs/vit_b16.py's input (JPEG decode, random-resized-crop, flip, normalise; tf.data on
every core) over an image_folder: of real JPEGs written first: crops of scikit-learn's two sample
photos (china.jpg, flower.jpg) at their own resolution, 300-500 px a side, quality 90.
BERT: configs/bert_base.py's input (WordPiece, MLM + NSP pairs of 128 tokens) over text_bench's
generated corpus, tokenized into chunks for its first batch. Each pipeline is timed for --seconds
after its first batch; the CPU seconds of this process (every thread) make the per-core rates,
which hold (roughly) on a machine shared with other work, where wall rates drop. Prints key=value
lines, then one JSON line. A tool beside the packages, not in input_pipeline/: it reads the configs,
which the input pipeline never imports (tests/test_layering.py).
"""
import argparse
import json
import os
import tempfile
import time
from importlib import resources

import numpy as np

import input_pipeline
from benchmarks import text_bench
from big_uni import config_schema
from configs import bert_base, vit_b16
from input_pipeline.tf_cpu import tf

# ImageNet's photos average about 400 x 350 px (~110 KB); the sample photos are 427 x 640.
_SIDES = (300, 500)
_JPEG_QUALITY = 90


def sample_photos() -> dict[str, np.ndarray]:
  """The files of sklearn.datasets.load_sample_images, decoded without the PIL it needs:
  name ('china', 'flower') -> uint8 [427, 640, 3]."""
  files = resources.files('sklearn.datasets.images').iterdir()
  return {f.name.removesuffix('.jpg'): tf.io.decode_jpeg(f.read_bytes()).numpy()
          for f in sorted(files, key=lambda f: f.name) if f.name.endswith('.jpg')}


def write_jpegs(image_dir: str, count: int, seed: int = 0) -> dict:
  """`count` JPEGs in image_folder: layout, <image_dir>/train/<photo name>/<index>.jpg: random
  crops of the sample photos, not resampled (resizing would smooth away the detail that decoding
  pays for). Returns their mean size in KB and mean height and width."""
  photos = sample_photos()
  names = list(photos)
  rng = np.random.default_rng(seed)
  sizes, shapes = [], []
  for index in range(count):
    name = names[index % len(names)]
    photo = photos[name]
    height, width = np.minimum(rng.integers(_SIDES[0], _SIDES[1] + 1, 2), photo.shape[:2])
    top, left = rng.integers(photo.shape[0] - height + 1), rng.integers(photo.shape[1] - width + 1)
    encoded = tf.io.encode_jpeg(photo[top:top + height, left:left + width],
                                quality=_JPEG_QUALITY).numpy()
    os.makedirs(os.path.join(image_dir, 'train', name), exist_ok=True)
    with open(os.path.join(image_dir, 'train', name, f'{index:06d}.jpg'), 'wb') as f:
      f.write(encoded)
    sizes.append(len(encoded))
    shapes.append((height, width))
  mean_height, mean_width = np.mean(shapes, axis=0)
  return dict(jpeg_mean_kb=np.mean(sizes) / 1024, jpeg_mean_height=mean_height,
              jpeg_mean_width=mean_width)


def vit_input(image_dir: str, image_size: int):
  config = vit_b16.get_config().input
  config.update(dict(dataset=f'image_folder:{image_dir}', image_size=image_size))
  return config


def bert_input(corpus: str, cache_dir: str):
  config = config_schema.complete(bert_base.get_config()).input  # Its kind: BERT pretraining's.
  config.update(dict(dataset=corpus, cache_dir=cache_dir))
  return config


def timed(input_config, batch_size: int, seconds: float, unit: str) -> dict:
  """Reads training batches of `input_config` for `seconds` (at least one batch) after the first,
  which pays for opening the source and starting the pipeline; `unit` names the examples."""
  start = time.perf_counter()
  batches = input_pipeline.get_iterator(input_config, 'train', train=True,
                                        global_batch_size=batch_size, seed=0)
  next(batches)
  first_batch_s = time.perf_counter() - start
  load_average = os.getloadavg()[0]
  start, cpu, examples = time.perf_counter(), text_bench.cpu_seconds(), 0
  while not examples or time.perf_counter() - start < seconds:
    next(batches)
    examples += batch_size
  wall, cpu = time.perf_counter() - start, text_bench.cpu_seconds() - cpu
  return {'first_batch_s': first_batch_s, unit: examples, 'seconds': wall, 'cpu_seconds': cpu,
          f'{unit}_per_sec': examples / wall, f'{unit}_per_cpu_sec': examples / cpu,
          'cores_used': cpu / wall, 'load_average': max(load_average, os.getloadavg()[0])}


def measure(workdir: str, *, images: int, image_size: int, batch_size: int, seconds: float,
            corpus_mb: int, vit_target: float, bert_target: float) -> dict:
  image_dir, corpus_dir = os.path.join(workdir, 'images'), os.path.join(workdir, 'corpus')
  start = time.perf_counter()
  figures = dict(host_cores=os.cpu_count(), images=images, image_size=image_size,
                 batch_size=batch_size, **write_jpegs(image_dir, images),
                 jpeg_write_s=time.perf_counter() - start, bert_corpus_mb=corpus_mb)
  os.makedirs(corpus_dir, exist_ok=True)
  text_bench.generate_corpus(corpus_dir, corpus_mb)
  vit_config = vit_input(image_dir, image_size)
  # Every file is decoded once here, to check it (image_folder: sources do), not in the timing.
  figures['vit_images_decodable'] = input_pipeline.num_examples(vit_config, 'train')
  bert_config = bert_input(text_bench.corpus_name(corpus_dir, corpus_mb), workdir)
  # BERT first: the tf.data pipeline's threads go on filling its buffers after the last read.
  for name, config, unit, target in (('bert', bert_config, 'sequences', bert_target),
                                     ('vit', vit_config, 'examples', vit_target)):
    timing = timed(config, batch_size, seconds, unit)
    figures.update({f'{name}_{key}': value for key, value in timing.items()})
    figures[f'{name}_target'] = target
    figures[f'{name}_cores_needed'] = target / timing[f'{unit}_per_cpu_sec']
  return figures


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--images', type=int, default=2000, help='JPEGs to write')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--batch_size', type=int, default=256, help='of both pipelines')
  parser.add_argument('--seconds', type=float, default=30, help='timed, per pipeline')
  parser.add_argument('--corpus_mb', type=int, default=10,
                      help='BERT corpus: 1 MB files, a power of 10')
  parser.add_argument('--vit_target', type=float, default=2900,
                      help='images/s of one accelerator (ViT-B/16 training on an H100)')
  parser.add_argument('--bert_target', type=float, default=4200,
                      help='sequences/s of one accelerator (BERT-base, seq 128, on an H100)')
  parser.add_argument('--workdir', default='', help='keeps the JPEGs and corpus (default: a '
                      'temp dir, deleted)')
  args = parser.parse_args()
  options = {key: value for key, value in vars(args).items() if key != 'workdir'}
  if args.workdir:
    figures = measure(args.workdir, **options)
  else:
    with tempfile.TemporaryDirectory(prefix='host_bench_') as workdir:
      figures = measure(workdir, **options)
  figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
  for key, value in figures.items():
    print(f'{key}={value}')
  print(json.dumps(figures))


if __name__ == '__main__':
  main()
