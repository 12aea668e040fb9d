"""How long a restart takes to its first batch, at step 0 and deep into training.

    python -m benchmarks.resume_bench --data_dir=/tmp/resume_bench            # 1,281,167 records
    python -m benchmarks.resume_bench --data_dir=/tmp/resume_bench --size=small  # 10,000

Generates (once) a TFDS dataset of tiny 4x4 PNG records, as many as ImageNet's training split,
stored as ArrayRecord; then, each in a fresh process, builds the training pipeline at
--start_steps (batch --batch_size) and times it from the `get_iterator` call to the first batch:
opening the source, the epoch's permutation, reading, decoding and batching. Prints one line per
start step and a JSON line with the figures and the ratio of the last to the first.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import resume_bench_data
from input_pipeline.tf_cpu import tfds


def _input_config(data_dir: str, size: str):
  import ml_collections  # pylint: disable=g-import-not-at-top
  return ml_collections.ConfigDict(dict(
      kind='image', dataset=f'big_uni_resume_bench/{size}', data_dir=data_dir, download=True,
      train_split='train', image_size=4, channels=1,
      pp_train='decode|pad_crop(1)|flip_lr|normalize(0.5, 0.5)|label_int32', cache=False))


def time_to_first_batch(data_dir: str, size: str, start_step: int, batch_size: int) -> dict:
  """In this process: seconds from get_iterator(start_step) to its first batch."""
  import input_pipeline  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  iterator = input_pipeline.get_iterator(_input_config(data_dir, size), 'train', train=True,
                                         global_batch_size=batch_size, seed=0,
                                         start_step=start_step)
  batch = next(iterator)
  first = time.perf_counter() - start
  next(iterator)
  return {'start_step': start_step, 'first_batch_s': first,
          'second_batch_s': time.perf_counter() - start - first,
          'label_checksum': int(np.sum(batch['label']))}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--data_dir', required=True)
  parser.add_argument('--size', default='imagenet', choices=sorted(resume_bench_data.SIZES))
  parser.add_argument('--batch_size', type=int, default=1024)
  parser.add_argument('--start_steps', default='0,10000,100000')
  parser.add_argument('--one_start_step', type=int, default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one_start_step is not None:  # The child process of one measurement.
    print(json.dumps(time_to_first_batch(args.data_dir, args.size, args.one_start_step,
                                         args.batch_size)))
    return
  size = resume_bench_data.SIZES[args.size]
  builder = tfds.builder(f'big_uni_resume_bench/{args.size}', data_dir=args.data_dir)
  if not builder.is_prepared():
    start = time.perf_counter()
    builder.download_and_prepare(file_format='array_record')
    print(f'generated {size:,} records in {time.perf_counter() - start:.0f} s')
  results = []
  for start_step in (int(s) for s in args.start_steps.split(',')):
    child = subprocess.run(
        [sys.executable, '-m', 'benchmarks.resume_bench', f'--data_dir={args.data_dir}',
         f'--size={args.size}', f'--batch_size={args.batch_size}',
         f'--one_start_step={start_step}'], capture_output=True, text=True, check=True,
        env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2'})
    result = json.loads(child.stdout.strip().splitlines()[-1])
    epoch = start_step * args.batch_size // size
    print(f'start_step {start_step:>7,} (epoch {epoch:>3}): first batch after '
          f'{result["first_batch_s"]:.2f} s, next batch {result["second_batch_s"]:.3f} s')
    results.append(result)
  print(json.dumps({'records': size, 'batch_size': args.batch_size,
                    'results': results,
                    'last_over_first': results[-1]['first_batch_s'] /
                                       results[0]['first_batch_s']}))


if __name__ == '__main__':
  main()
