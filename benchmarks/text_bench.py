"""Memory and speed of the BERT text pipeline on generated corpora of growing size.

    python -m benchmarks.text_bench --sizes_mb=10,100,1000

For each size, a fresh process prepares the corpus (input_pipeline.text_preparation, in that one
process) and then assembles training batches from it; it reports its peak RSS (VmHWM),
which should not grow with the corpus, and tokens per CPU second of preparation and of batch
assembly. The corpora are text_files: of 1 MB files (one document each) of words drawn with
Zipf frequencies from a made-up vocabulary, in sentences and paragraphs; the tokenizer is an
8k sentencepiece model trained on the smallest corpus. CPU seconds, not wall time, make the
rates per core; on a machine shared with other work the wall times are longer.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import ml_collections
import numpy as np

from input_pipeline import bert_pretraining, text_preparation, tokenizers

_FILE_BYTES = 1 << 20
_LETTERS = np.array(list('abcdefghiklmnoprstuvwy'))


def generate_file(path: str, rng: np.random.Generator, words: np.ndarray,
                  cumulative: np.ndarray, bytes_per_word: float) -> None:
  """About _FILE_BYTES of sentences of 4-30 words, 5 sentences a paragraph."""
  picked = words[np.searchsorted(cumulative, rng.random(int(_FILE_BYTES / bytes_per_word)))]
  ends = np.cumsum(rng.integers(4, 31, len(picked) // 4))
  sentences = [' '.join(s).capitalize() + '.' for s in np.split(picked, ends[ends < len(picked)])]
  with open(path, 'w') as f:
    f.write('\n\n'.join(' '.join(sentences[i:i + 5]) for i in range(0, len(sentences), 5)))


def generate_corpus(directory: str, num_files: int, seed: int = 0) -> None:
  """part-00000.txt, ... of a 20k-word vocabulary; shorter words are the more frequent."""
  rng = np.random.default_rng(seed)
  lengths = np.sort(rng.integers(1, 11, 20_000))
  words = np.array([''.join(rng.choice(_LETTERS, n)) for n in lengths], object)
  frequencies = 1 / np.arange(1, len(words) + 1)
  frequencies /= frequencies.sum()
  bytes_per_word = (frequencies * (lengths + 1)).sum()  # With the space after it.
  for index in range(num_files):
    path = os.path.join(directory, f'part-{index:05d}.txt')
    if not os.path.exists(path):
      generate_file(path, np.random.default_rng([seed, index]), words, np.cumsum(frequencies),
                    bytes_per_word)


def corpus_name(directory: str, size_mb: int) -> str:
  """The text_files: glob of the first size_mb files (a power of 10)."""
  digits = len(str(size_mb)) - 1
  return f'text_files:{directory}/part-{"0" * (5 - digits)}{"?" * digits}.txt'


def input_config(corpus: str, tokenizer_corpus: str, cache_dir: str, kind: str):
  tokenizer = (dict(kind='wordpiece', path='minilm', lowercase=True) if kind == 'wordpiece' else
               dict(kind='sentencepiece', path='', train_corpus=tokenizer_corpus,
                    vocab_size=8000, lowercase=False, cache_dir=cache_dir))
  return ml_collections.ConfigDict(dict(
      kind='bert_pretraining', dataset=corpus, prepared_dir='', cache_dir=cache_dir,
      train_split='train', eval_split='validation', max_seq_len=128, max_predictions=20,
      random_next_prob=0.5, short_seq_prob=0.1, pp_train='mask_tokens', pp_eval='mask_tokens',
      tokenizer=tokenizer))


def cpu_seconds() -> float:
  """CPU time of this process, all its threads."""
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
  """This process's peak RSS: VmHWM (Linux). Not ru_maxrss, which a child started by
  subprocess inherits from its parent across exec (a parent at 400 MB gives every child 400)."""
  with open('/proc/self/status') as f:
    return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:')) / 1024


def measure(config, batches: int, batch_size: int) -> dict:
  """Prepares config's corpus, then reads `batches` training batches: figures of this process."""
  tokenizer = tokenizers.build_tokenizer(config.tokenizer)
  figures = {'rss_start_mb': _peak_rss_mb()}
  wall, cpu = time.perf_counter(), cpu_seconds()
  _, metadata = text_preparation.prepared_directory(config, tokenizer)
  figures.update(prepare_s=time.perf_counter() - wall, prepare_cpu_s=cpu_seconds() - cpu,
                 tokens=sum(s['tokens'] for s in metadata['splits'].values()),
                 chunks=metadata['splits']['train']['chunks'], rss_prepare_mb=_peak_rss_mb())
  iterator = bert_pretraining.get_iterator(config, 'train', train=True,
                                           global_batch_size=batch_size, seed=0)
  next(iterator)  # Opening the files.
  wall, cpu, tokens = time.perf_counter(), cpu_seconds(), 0
  for _ in range(batches):
    tokens += int(next(iterator)['input_mask'].sum())
  figures.update(batches_s=time.perf_counter() - wall, batches_cpu_s=cpu_seconds() - cpu,
                 batch_tokens=tokens)
  wall = time.perf_counter()
  next(bert_pretraining.get_iterator(config, 'train', train=True, global_batch_size=batch_size,
                                     seed=0, start_step=10**6))
  figures.update(deep_restart_s=time.perf_counter() - wall, rss_peak_mb=_peak_rss_mb())
  return figures


def _measure_in_fresh_process(config, batches: int, batch_size: int) -> dict:
  command = [sys.executable, '-m', 'benchmarks.text_bench', '--measure',
             json.dumps(config.to_dict()), f'--batches={batches}', f'--batch_size={batch_size}']
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  if result.returncode:
    raise RuntimeError(f'{" ".join(command[:3])} failed:\n{result.stderr[-3000:]}')
  return json.loads(result.stdout.strip().splitlines()[-1])


def _report(label: str, figures: dict, batch_size: int, batches: int) -> str:
  return (f'{label}: {figures["tokens"] / 1e6:.1f}M tokens, {figures["chunks"]:,} train chunks | '
          f'prepare {figures["prepare_s"]:.1f} s, '
          f'{figures["tokens"] / figures["prepare_cpu_s"] / 1e6:.2f}M tokens/s per core | '
          f'{batches} batches of {batch_size}x128 in {figures["batches_s"]:.1f} s, '
          f'{figures["batch_tokens"] / figures["batches_cpu_s"] / 1e6:.2f}M tokens/s per core | '
          f'restart at step 10^6: {figures["deep_restart_s"] * 1e3:.0f} ms | peak RSS '
          f'{figures["rss_peak_mb"]:.0f} MB (imports {figures["rss_start_mb"]:.0f}, after '
          f'preparing {figures["rss_prepare_mb"]:.0f})')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--sizes_mb', default='10,100,1000', help='powers of 10, ascending')
  parser.add_argument('--batches', type=int, default=200)
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--workdir', default='', help='keeps the corpora (default: a temp dir)')
  parser.add_argument('--wordpiece', action='store_true',
                      help='also prepare the smallest corpus with BERT\'s WordPiece vocabulary')
  parser.add_argument('--measure', help=argparse.SUPPRESS)  # A fresh process's input_config.
  args = parser.parse_args()
  if args.measure:
    config = ml_collections.ConfigDict(json.loads(args.measure))
    print(json.dumps(measure(config, args.batches, args.batch_size)))
    return
  sizes = [int(s) for s in args.sizes_mb.split(',')]
  workdir = args.workdir or tempfile.mkdtemp(prefix='text_bench_')
  corpus_dir, cache_dir = os.path.join(workdir, 'corpus'), os.path.join(workdir, 'cache')
  os.makedirs(corpus_dir, exist_ok=True)
  start = time.perf_counter()
  generate_corpus(corpus_dir, max(sizes))
  print(f'generated {max(sizes)} files of 1 MB in {corpus_dir} in '
        f'{time.perf_counter() - start:.0f} s', flush=True)
  smallest = corpus_name(corpus_dir, sizes[0])
  start = time.perf_counter()
  tokenizers.build_tokenizer(input_config(smallest, smallest, cache_dir, 'sentencepiece').tokenizer)
  print(f'sentencepiece 8k trained on the {sizes[0]} MB corpus in '
        f'{time.perf_counter() - start:.1f} s', flush=True)
  peaks = []
  for size in sizes:
    config = input_config(corpus_name(corpus_dir, size), smallest, cache_dir, 'sentencepiece')
    figures = _measure_in_fresh_process(config, args.batches, args.batch_size)
    peaks.append(figures['rss_peak_mb'])
    print(_report(f'{size} MB', figures, args.batch_size, args.batches), flush=True)
  print('peak RSS vs the smallest corpus: ' +
        ', '.join(f'{s} MB {p / peaks[0] - 1:+.1%}' for s, p in zip(sizes, peaks)))
  if args.wordpiece:
    config = input_config(smallest, smallest, cache_dir, 'wordpiece')
    figures = _measure_in_fresh_process(config, args.batches, args.batch_size)
    print(_report(f'{sizes[0]} MB, WordPiece', figures, args.batch_size, args.batches))


if __name__ == '__main__':
  main()
