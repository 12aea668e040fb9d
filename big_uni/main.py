"""Entry point: python -m big_uni.main --config=configs/vit_b16.py[:variant] --workdir=DIR.

Any config field can be overridden on the command line, e.g. `--config.optimizer.lr=1e-3`.
"""
import os
import sys

# TensorFlow (tf.data only) prints C++ start-up info lines; keep its warnings and errors.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from big_uni import xla_flags  # pylint: disable=g-import-not-at-top

xla_flags.set_defaults()  # Before JAX starts.

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

from big_uni import (config_schema, errors, overrides,  # pylint: disable=g-import-not-at-top
                     shapes, sharding, train)

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file, optionally :variant.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and metrics go.')
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'eval', 'shapes', 'aot', 'sample'],
                          'train (resumes from workdir), eval (latest checkpoint), shapes '
                          '(parameter tree without allocating), aot (compile for --topology) or '
                          'sample (a language model continues --prompt; big_uni/sample.py).')
_TOPOLOGY = flags.DEFINE_string('topology', 'v5e-256',
                                '--mode=aot: the TPU slice to compile for (big_uni/aot.py).')
_FIND_MAX_BATCH = flags.DEFINE_bool('find_max_batch', False,
                                    '--mode=aot: also search the largest global batch that fits.')
_PROMPT = flags.DEFINE_string('prompt', '', '--mode=sample: the text to continue.')
_NUM_TOKENS = flags.DEFINE_integer('num_tokens', 60, '--mode=sample: tokens to add to it.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 1, '--mode=sample: continuations to print.')
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, '--mode=sample: 0 is greedy.')
_TOP_K = flags.DEFINE_integer('top_k', 0, '--mode=sample: draw from the k likeliest (0: all).')
_TOP_P = flags.DEFINE_float('top_p', 1.0, '--mode=sample: draw from the likeliest tokens '
                            'holding this probability (1: all).')
_SEED = flags.DEFINE_integer('seed', 0, '--mode=sample: the random draws (not config.seed).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    # Progress is printed; absl INFO logs (orbax is chatty) need an explicit --verbosity=0.
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  if _MODE.value in ('train', 'eval', 'sample') and not _WORKDIR.value:
    raise app.UsageError(f'--workdir is required for --mode={_MODE.value}')
  try:
    # A misspelled key in the config file would otherwise run with the default it meant to
    # replace; overrides of keys the schema does not declare are refused earlier, by the locked
    # config (_parse_flags).
    config_schema.validate(config)
    # Every mode reads the schema's defaults from the config; after the overrides, so that a
    # default that follows another field follows its overridden value.
    config_schema.complete(config)
    if _MODE.value == 'shapes':
      print(shapes.describe(config))
    elif _MODE.value == 'aot':
      from big_uni import aot  # pylint: disable=g-import-not-at-top
      aot.run(config, _TOPOLOGY.value, _FIND_MAX_BATCH.value)
    elif _MODE.value == 'sample':
      from big_uni import sample  # pylint: disable=g-import-not-at-top
      sample.run(config, _WORKDIR.value, _PROMPT.value, num_tokens=_NUM_TOKENS.value,
                 num_samples=_NUM_SAMPLES.value, temperature=_TEMPERATURE.value,
                 top_k=_TOP_K.value, top_p=_TOP_P.value, seed=_SEED.value)
    else:
      sharding.initialize_distributed()  # Multi-host: every process runs this same command.
      if _MODE.value == 'train':
        train.train_and_evaluate(config, _WORKDIR.value)
      else:
        train.evaluate_checkpoint(config, _WORKDIR.value)
  except errors.UserInputError as e:
    sys.exit(f'error: {e}')


def _parse_flags(argv):
  """absl's flag parsing; an override may set any field the schema declares; a bad --config.x
  override is one line naming the fix, no traceback."""
  config_flag = flags.FLAGS['config']
  config_flag.parser = overrides.ConfigFileParser(config_flag.parser, argv)
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError, flags.Error) as e:  # ml_collections: unknown key, bad value
    sys.exit(f'error: {overrides.explain(argv, e, flags.FLAGS["config"])}')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main, flags_parser=_parse_flags)
