"""The trainer: overfitting, exact resume, logs, non-finite loss."""
import json
import os
import shutil
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest
from sklearn import datasets

from big_uni import checkpoint, errors, flops, train
from configs import vit_mnist5k
from tests.helpers import synthetic_steps


def _smoke_config(**overrides):
  return synthetic_steps.smoke_config(vit_mnist5k, **overrides)


def test_tiny_config_overfits_a_small_batch():
  digits = datasets.load_digits()
  batch = {'image': (digits.images[:32, :, :, None] / 16.0 - 0.5).astype(np.float32) / 0.5,
           'label': digits.target[:32].astype(np.int32)}
  metrics = synthetic_steps.overfit(_smoke_config(total_steps=150), batch)
  assert float(metrics[0]['loss']) > 2.0  # ln(10) = 2.30 from the zero-initialised head.
  assert float(metrics[-1]['loss']) < 0.05
  assert float(metrics[-1]['train_accuracy']) == 1.0


def test_relative_workdir_checkpoints_and_resumes(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  config = _smoke_config(total_steps=4)
  train.train_and_evaluate(config, 'runs/relative')
  assert sorted(os.listdir(tmp_path / 'runs/relative/checkpoints')) == ['2', '4']
  assert _final_params('runs/relative')[0] == 4


def test_eval_without_a_checkpoint_evaluates_the_weights_init_names(tmp_path):
  source = str(tmp_path / 'source')
  trained = train.train_and_evaluate(_smoke_config(), source)
  with pytest.raises(errors.UserInputError, match='train first'):
    train.evaluate_checkpoint(_smoke_config(), str(tmp_path / 'empty'))
  config = _smoke_config()
  config.init = ml_collections.ConfigDict({'vit': dict(kind='checkpoint', path=source)})
  evaluated = train.evaluate_checkpoint(config, str(tmp_path / 'empty'))
  assert evaluated == pytest.approx(trained, abs=1e-6)


def _final_params(workdir):
  config = _smoke_config()
  trainer = train.Trainer(config)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), every_steps=1, keep=3)
  state = ckpt.restore(trainer.abstract_state)
  ckpt.close()
  return int(state.step), jax.device_get(state.params)


def test_resume_continues_and_equals_uninterrupted_run(tmp_path, capsys):
  straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
  config = _smoke_config(total_steps=6)
  train.train_and_evaluate(config, straight)
  train.train_and_evaluate(config, resumed)
  # As if the run had died after its step-4 checkpoint.
  shutil.rmtree(os.path.join(resumed, 'checkpoints', '6'))
  capsys.readouterr()
  train.train_and_evaluate(config, resumed)
  assert 'steps 4 -> 6' in capsys.readouterr().out

  step_a, params_a = _final_params(straight)
  step_b, params_b = _final_params(resumed)
  assert step_a == step_b == 6
  jax.tree.map(np.testing.assert_array_equal, params_a, params_b)


def test_metrics_jsonl_and_config_are_written(tmp_path):
  workdir = str(tmp_path)
  final = train.train_and_evaluate(_smoke_config(), workdir)
  rows = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  train_rows = [r for r in rows if 'loss' in r]
  assert {'step', 'loss', 'learning_rate', 'train_accuracy', 'grad_norm', 'steps_per_sec',
          'examples_per_sec', 'tokens_per_sec', 'tflops_per_sec_per_device'} <= set(train_rows[-1])
  # Tokens and model FLOPs per step are the bench's (big_uni/flops.py) times steps/s; a CPU has
  # no peak, so no MFU.
  last = train_rows[-1]
  trainer = train.Trainer(_smoke_config())
  cost = flops.step_cost(trainer.task, trainer.config.input.batch_size)
  assert last['tokens_per_sec'] == pytest.approx(cost.tokens * last['steps_per_sec'])
  assert last['tflops_per_sec_per_device'] == pytest.approx(
      cost.flops * last['steps_per_sec'] / jax.device_count() / 1e12)
  assert 'mfu' not in last
  assert rows[-1] == {'step': 4, **final} and 'test_accuracy' in final
  assert json.load(open(os.path.join(workdir, 'config.json')))['model']['width'] == 32
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir))


def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
  workdir = str(tmp_path)
  train.train_and_evaluate(_smoke_config(), workdir)  # a good checkpoint at step 4
  config = _smoke_config(total_steps=8)
  config.optimizer.lr = 1e30
  with pytest.raises(FloatingPointError, match='non-finite loss .* at step 6'):
    train.train_and_evaluate(config, workdir)
  assert _final_params(workdir)[0] == 4


def test_evaluate_checkpoint_without_checkpoint_says_train_first(tmp_path):
  with pytest.raises(errors.UserInputError, match='train first'):
    train.evaluate_checkpoint(_smoke_config(), str(tmp_path))


def test_trainer_steps_without_tensorflow_or_clu():
  """GPU machines have neither: the benchmark path (benchmarks.bench, train.Trainer and its step on
  synthetic batches) imports and runs without them; train_and_evaluate's logging needs clu
  (big_uni/clu_logging.py), whose metric writers import TensorFlow."""
  code = """
import sys
sys.modules['tensorflow'] = sys.modules['clu'] = None  # any import of them now fails
import numpy as np
from benchmarks import bench
from big_uni import sharding, train  # bench: what benchmarks/gpu.sh runs
from configs import vit_mnist5k
config = vit_mnist5k.get_config('smoke')
config.input.dataset = 'synthetic'
trainer = train.Trainer(config)
batch = next(trainer.data.batches('train', train=True, num_steps=1))
with trainer.context():
  state, metrics = trainer.train_step(trainer.init_state(),
                                      sharding.global_batch(batch, trainer.mesh))
print(float(metrics['loss']))
"""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=root,
                       env={**os.environ, 'PYTHONPATH': root})
  assert out.returncode == 0, out.stderr[-2000:]
  assert np.isfinite(float(out.stdout.split()[-1]))
