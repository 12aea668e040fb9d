"""Every config file builds; its smoke variant trains a step; the CLI prints shapes."""
import importlib
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from big_uni import sharding, train
from tests.helpers import CONFIG_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_configs_are_found():
  assert {'vit_ti16', 'vit_s16', 'vit_b16', 'vit_l16', 'vit_h14', 'vit_mnist5k', 'bert_base',
          'bert_large', 'bert_austen', 'bert_classify', 'clip_b16', 'clip_l14',
          'clip_fashion_mnist'} <= set(CONFIG_NAMES)


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_smoke_variant_trains_a_step(name):
  config = importlib.import_module(f'configs.{name}').get_config('smoke')
  config.input.dataset = 'synthetic'  # Same shapes as the smoke data, no input pipeline.
  trainer = train.Trainer(config, total_steps=2)
  state = trainer.init_state()
  batch = trainer.task.synthetic_batch(np.random.default_rng(0), config.input.batch_size)
  with trainer.context():
    state, metrics = trainer.train_step(state, sharding.global_batch(batch, trainer.mesh))
  assert int(state.step) == 1 and np.isfinite(float(metrics['loss']))


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_default_variant_builds_without_allocating(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  trainer = train.Trainer(config, total_steps=1)
  assert train.count_params(trainer.abstract_state.params) > 0
  assert all(isinstance(x, jax.ShapeDtypeStruct)
             for x in jax.tree.leaves(trainer.abstract_state))


def test_unknown_variant_is_a_clear_error():
  with pytest.raises(ValueError, match='unknown variant'):
    importlib.import_module('configs.vit_b16').get_config('imagenet21k')


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'big_uni.main', *args], capture_output=True,
                        text=True, cwd=ROOT, env={**os.environ, 'PYTHONPATH': ROOT})


def test_cli_shapes_prints_total_and_accepts_overrides():
  out = _cli('--config=configs/vit_b16.py', '--mode=shapes', '--config.model.variant=L/16')
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip().splitlines()[-1] == 'total_params=304326632'
  assert 'encoder/block23/mlp/fc1/kernel' in out.stdout


def test_cli_rejects_unknown_config_key():
  out = _cli('--config=configs/vit_b16.py', '--mode=shapes', '--config.optimizer.lrate=1')
  assert out.returncode != 0 and 'lrate' in out.stderr


def test_cli_unprepared_dataset_stops_at_once_with_instructions(tmp_path):
  out = _cli('--config=configs/vit_b16.py', f'--workdir={tmp_path / "run"}',
             f'--config.input.data_dir={tmp_path / "tfds"}')
  assert out.returncode == 1
  assert 'imagenet2012' in out.stderr and 'downloads/manual' in out.stderr
  assert 'configs/vit_mnist5k.py' in out.stderr and 'Traceback' not in out.stderr
