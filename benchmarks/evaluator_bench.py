"""Wall time and peak host memory of kNN and the linear probe at ImageNet size, on this machine.

  python -m benchmarks.evaluator_bench            # every measurement, one fresh process each
  python -m benchmarks.evaluator_bench knn_rate --chunks=4   # one of them, printed as JSON

Features are generated, never held whole: the kNN gallery chunk by chunk (random unit rows, a
function of the chunk index), the probe's rows written once to a file and read back a chunk at
a time. Peak memory is the process's VmHWM (resident high-water mark, /proc/self/status).
Measurements:
- knn_rate: 50,000 queries (ImageNet val) x 768 against `--chunks` gallery chunks of 4,096 rows;
  the time per chunk (after the first, which compiles) projects the whole 1,281,167-row gallery.
- knn_memory: `--queries` queries against 1x and 10x the ImageNet train rows, streamed in full.
- probe_pass: one loss-and-gradient pass (what each L-BFGS iteration and line-search step costs)
  over 128,000 and 1,280,000 rows x 768, 1,000 classes, read from disk.
- probe_protocol: the whole protocol (C search on a validation split, refit, test) on `--rows`
  x 768 generated features of 1,000 classes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

IMAGENET_TRAIN, IMAGENET_VAL = 1_281_167, 50_000
WIDTH, CLASSES = 768, 1000


def peak_rss_mb() -> float:
  with open('/proc/self/status') as status:
    line = next(l for l in status if l.startswith('VmHWM:'))
  return int(line.split()[1]) / 1024


def _unit_rows(rng, count, width=WIDTH):
  x = rng.standard_normal((count, width), dtype=np.float32)
  return x / np.linalg.norm(x, axis=1, keepdims=True)


class GeneratedGallery:
  """`rows` random unit features with labels, made chunk by chunk: chunk j is a fixed random
  block with its columns rolled by j (cheap, and distinct per chunk); labels shift by j."""

  def __init__(self, rows: int, chunk_rows: int):
    self.num_rows, self.chunk_rows = rows, chunk_rows
    rng = np.random.default_rng(0)
    self._block = _unit_rows(rng, chunk_rows)
    self._labels = rng.integers(0, CLASSES, chunk_rows)

  def __len__(self):
    return -(-self.num_rows // self.chunk_rows)

  def features(self, j):
    return np.roll(self._block, j, axis=1)

  def labels(self, j):
    return (self._labels + j) % CLASSES

  def valid(self, j):
    return j * self.chunk_rows + np.arange(self.chunk_rows) < self.num_rows


class _ByChunk:
  """`[j]` -> get(j), with a length: what chunks.Chunks needs of each field."""

  def __init__(self, get, length):
    self._get, self._length = get, length

  def __getitem__(self, j):
    if not 0 <= j < self._length:
      raise IndexError(j)  # Ends iteration.
    return self._get(j)

  def __len__(self):
    return self._length


def _gallery_chunks(rows, chunk_rows):
  from big_uni.evaluators import chunks  # pylint: disable=g-import-not-at-top
  gallery = GeneratedGallery(rows, chunk_rows)
  return chunks.Chunks(*(_ByChunk(f, len(gallery)) for f in (
      gallery.features, gallery.labels, gallery.valid)))


def knn_rate(num_chunks: int, chunk_rows: int = 4096) -> dict:
  from big_uni.evaluators import knn  # pylint: disable=g-import-not-at-top
  queries = _unit_rows(np.random.default_rng(1), IMAGENET_VAL)
  times = []
  for count in (1, num_chunks + 1):  # The first run compiles; the difference is steady state.
    start = time.perf_counter()
    knn.knn_predict(_gallery_chunks(count * chunk_rows, chunk_rows), None, queries,
                    ks=(1, 20), num_classes=CLASSES)
    times.append(time.perf_counter() - start)
  per_chunk = (times[1] - times[0]) / num_chunks
  total_chunks = -(-IMAGENET_TRAIN // chunk_rows)
  return {'queries': IMAGENET_VAL, 'chunk_rows': chunk_rows, 'chunks_timed': num_chunks,
          'one_chunk_s_with_compile': times[0], 'per_chunk_s': per_chunk,
          'projected_imagenet_s': per_chunk * total_chunks, 'imagenet_chunks': total_chunks,
          'peak_rss_mb': peak_rss_mb()}


def knn_memory(scale: int, queries: int, chunk_rows: int = 4096) -> dict:
  from big_uni.evaluators import knn  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  knn.knn_predict(_gallery_chunks(scale * IMAGENET_TRAIN, chunk_rows), None,
                  _unit_rows(np.random.default_rng(1), queries), ks=(1, 20), num_classes=CLASSES)
  return {'gallery_rows': scale * IMAGENET_TRAIN, 'queries': queries, 'chunk_rows': chunk_rows,
          'wall_s': time.perf_counter() - start, 'peak_rss_mb': peak_rss_mb()}


class DiskFeatures:
  """[chunks, rows, D] float32 in a raw file, read a chunk at a time by plain reads (a memmap
  would count the pages it touched as resident)."""

  def __init__(self, path, num_chunks, rows, width=WIDTH):
    self.path, self.shape = path, (num_chunks, rows, width)

  def __len__(self):
    return self.shape[0]

  def __getitem__(self, j):
    count = self.shape[1] * self.shape[2]
    return np.fromfile(self.path, np.float32, count, offset=4 * count * j).reshape(
        self.shape[1:])


def _class_data(directory, rows, chunk_rows, seed, noise=3.0):
  """Chunks of `rows` features (class mean + noise, written to disk) of CLASSES classes."""
  from big_uni.evaluators import chunks  # pylint: disable=g-import-not-at-top
  means = np.random.default_rng(0).standard_normal((CLASSES, WIDTH), dtype=np.float32)
  num_chunks = -(-rows // chunk_rows)
  path = os.path.join(directory, f'features_{seed}.f32')
  labels = np.zeros((num_chunks, chunk_rows), np.int32)
  with open(path, 'wb') as f:
    for j in range(num_chunks):
      rng = np.random.default_rng([seed, j])
      labels[j] = rng.integers(0, CLASSES, chunk_rows)
      x = means[labels[j]] + noise * rng.standard_normal((chunk_rows, WIDTH), dtype=np.float32)
      x.tofile(f)
  valid = (np.arange(num_chunks * chunk_rows) < rows).reshape(num_chunks, chunk_rows)
  return chunks.Chunks(DiskFeatures(path, num_chunks, chunk_rows), labels, valid)


def probe_pass(rows: int, chunk_rows: int = 16_384) -> dict:
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from big_uni.evaluators import linear_probe  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as directory:
    data = _class_data(directory, rows, chunk_rows, seed=1)
    weights = [np.asarray(v, np.float32) for v in data.valid]
    rows_iter = linear_probe._Rows([(data, weights)], np.arange(CLASSES))  # pylint: disable=protected-access
    params = jnp.zeros(WIDTH * CLASSES + CLASSES, jnp.float32)
    mean, scale = jnp.zeros(WIDTH, jnp.float32), jnp.float32(3.0)
    times = []
    for _ in range(2):  # The first pass compiles.
      start = time.perf_counter()
      float(linear_probe._total(lambda x, y, w: linear_probe._loss_sums(  # pylint: disable=protected-access
          params, x, y, w, mean, scale), rows_iter)[0])
      times.append(time.perf_counter() - start)
  return {'rows': rows, 'width': WIDTH, 'classes': CLASSES, 'chunk_rows': chunk_rows,
          'first_pass_s': times[0], 'pass_s': times[1], 'peak_rss_mb': peak_rss_mb()}


def probe_protocol(rows: int, chunk_rows: int = 16_384) -> dict:
  from big_uni.evaluators import linear_probe  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as directory:
    train = _class_data(directory, rows, chunk_rows, seed=1)
    test = _class_data(directory, 10_000, 10_000, seed=2)
    fit, fits = linear_probe._fit, []  # pylint: disable=protected-access

    def timed_fit(rows, c, *args):  # Each fit's rows, C, iterations and time, as they end.
      fit_start = time.perf_counter()
      params, iterations = fit(rows, c, *args)
      fits.append((rows.count, c, iterations, time.perf_counter() - fit_start))
      print('fit: rows %d, C %.3g, %d iterations, %.0f s' % fits[-1], file=sys.stderr, flush=True)
      return params, iterations

    linear_probe._fit = timed_fit  # pylint: disable=protected-access
    start = time.perf_counter()
    results = linear_probe.linear_probe(train, None, test, None)
    wall = time.perf_counter() - start
  return {'rows': rows, 'width': WIDTH, 'classes': CLASSES, 'wall_s': wall,
          'best_C': results['best_C'], 'test_accuracy': results['test_accuracy'],
          'refit_iterations': results['refit_iterations'],
          'fits': len(fits), 'sweep_iterations': sum(f[2] for f in fits[:-1]),
          'peak_rss_mb': peak_rss_mb()}


MEASUREMENTS = {'knn_rate': knn_rate, 'knn_memory': knn_memory, 'probe_pass': probe_pass,
                'probe_protocol': probe_protocol}


def _run(name, **kwargs) -> dict:
  """One measurement in a fresh process, so that its peak memory is its own."""
  args = [f'--{k}={v}' for k, v in kwargs.items()]
  out = subprocess.run([sys.executable, '-m', 'benchmarks.evaluator_bench', name, *args],
                       capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('measurement', nargs='?', choices=sorted(MEASUREMENTS))
  parser.add_argument('--chunks', type=int, default=4, help='knn_rate: gallery chunks timed')
  parser.add_argument('--queries', type=int, default=256, help='knn_memory: query count')
  parser.add_argument('--scale', type=int, default=1, help='knn_memory: x ImageNet train rows')
  parser.add_argument('--rows', type=int, default=128_000, help='probe_*: training rows')
  args = parser.parse_args()
  if args.measurement:
    kwargs = {'knn_rate': dict(num_chunks=args.chunks),
              'knn_memory': dict(scale=args.scale, queries=args.queries),
              'probe_pass': dict(rows=args.rows),
              'probe_protocol': dict(rows=args.rows)}[args.measurement]
    print(json.dumps(MEASUREMENTS[args.measurement](**kwargs)))
    return
  rate = _run('knn_rate', chunks=args.chunks)
  print(f'kNN, {rate["queries"]:,} queries x {WIDTH}, gallery chunks of {rate["chunk_rows"]:,}: '
        f'{rate["per_chunk_s"]:.1f} s per chunk (measured over {rate["chunks_timed"]} chunks); '
        f'{IMAGENET_TRAIN:,} gallery rows = {rate["imagenet_chunks"]} chunks -> '
        f'{rate["projected_imagenet_s"] / 60:.0f} min (EXTRAPOLATED); peak RSS '
        f'{rate["peak_rss_mb"]:.0f} MB')
  print('\n| measurement | rows | wall time | peak RSS |\n|---|---|---|---|')
  for scale in (1, 10):
    run = _run('knn_memory', scale=scale, queries=args.queries)
    print(f'| kNN, {run["queries"]} queries, gallery streamed in full ({scale}x) | '
          f'{run["gallery_rows"]:,} | {run["wall_s"]:.0f} s | {run["peak_rss_mb"]:.0f} MB |')
  for rows in (args.rows, 10 * args.rows):
    run = _run('probe_pass', rows=rows)
    print(f'| probe, one loss+gradient pass, {CLASSES} classes, from disk | {rows:,} | '
          f'{run["pass_s"]:.1f} s | {run["peak_rss_mb"]:.0f} MB |')
  run = _run('probe_protocol', rows=args.rows)
  print(f'| probe, full protocol ({run["fits"]} fits, refit {run["refit_iterations"]} '
        f'iterations; best C {run["best_C"]:.3g}, test {run["test_accuracy"]:.4f}) | '
        f'{run["rows"]:,} | {run["wall_s"]:.0f} s | {run["peak_rss_mb"]:.0f} MB |')


if __name__ == '__main__':
  main()
