"""The command that tokenizes a text corpus once into chunks stored for random access
(input_pipeline.text_preparation), which bert_pretraining reads:

    python -m input_pipeline.prepare_text --config=configs/bert_base.py --output=/data/wiki128

The corpus, tokenizer and max_seq_len are the config's (`config.input`, overridable as usual:
--config.input.data_dir=..., --config.input.max_seq_len=512); then point the run at the output
with --config.input.prepared_dir=/data/wiki128. `--workers` processes tokenize (default: one a
core). Small corpora need no such step: they are prepared on first use (text_preparation.py).
"""
import os
import sys
import time

from input_pipeline import errors, text_corpora, text_preparation


def main(argv):
  """The command line (absl: --config=<file>[:variant] --output=DIR [--splits] [--workers])."""
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  output = os.path.abspath(os.path.expanduser(values.output))
  if os.path.exists(output):
    sys.exit(f'error: {output} exists: delete it or choose another --output')
  start, cpu_start = time.perf_counter(), _cpu_seconds()
  try:
    metadata = text_preparation.prepare(values.config.input, output,
                                        splits=tuple(values.splits), workers=values.workers)
  except errors.UserInputError as e:
    sys.exit(f'error: {e}')
  seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
  tokens = sum(s['tokens'] for s in metadata['splits'].values())
  for split, info in metadata['splits'].items():
    print(f'{split}: {info["documents"]:,} documents, {info["sentences"]:,} sentences, '
          f'{info["tokens"]:,} tokens, {info["chunks"]:,} chunks in {len(info["files"])} files')
  print(f'wrote {output} in {seconds:.1f} s: {tokens / seconds:,.0f} tokens/s, '
        f'{tokens / cpu:,.0f} tokens/s per CPU second')


def _cpu_seconds() -> float:
  """CPU time of this process and its finished workers."""
  times = os.times()
  return times.user + times.system + times.children_user + times.children_system


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flags.DEFINE_config_file('config', None, 'A BERT pretraining config (its input).',
                                  lock_config=False)
  flags.DEFINE_string('output', None, 'The directory to write (must not exist).')
  flags.DEFINE_list('splits', list(text_corpora.SPLITS), 'The splits to prepare.')
  flags.DEFINE_integer('workers', os.cpu_count() or 1,
                       'Tokenizing processes (0: tokenize in this process).')
  flags.mark_flags_as_required(['config', 'output'])


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
