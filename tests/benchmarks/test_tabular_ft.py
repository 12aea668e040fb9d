"""benchmarks/tabular_baselines.py's ft_transformer: the paper's early stopping read off
metrics.jsonl, and two split seeds of the smoke config through the one trainer."""
import json
import math

from absl.testing import flagsaver
import pytest

from benchmarks import tabular_baselines
from big_uni import config_schema
from configs import ft_transformer as ft_config
from input_pipeline import tabular


def _rows(validation):
  return {step: {'validation_accuracy': v, 'test_accuracy': step / 100}
          for step, v in zip(range(10, 10 * len(validation) + 1, 10), validation)}


def test_early_stopping_keeps_the_first_best_until_patience_runs_out():
  # Best 0.8 first at step 20; steps 30..50 fail 3 times (> patience 2): stopped there, so the
  # 0.9 of step 60 is never seen.
  assert tabular_baselines.early_stopped(_rows([0.7, 0.8, 0.8, 0.6, 0.7, 0.9]), 'accuracy',
                                         higher_is_better=True, patience=2) == 20
  assert tabular_baselines.early_stopped(_rows([0.7, 0.8, 0.8, 0.6, 0.9]), 'accuracy',
                                         higher_is_better=True, patience=2) == 50
  # RMSE: lower is better.
  rows = {s: {'validation_rmse': v} for s, v in ((1, 0.9), (2, 0.7), (3, 0.8))}
  assert tabular_baselines.early_stopped(rows, 'rmse', higher_is_better=False, patience=5) == 2


def test_evaluations_merge_a_steps_rows_and_skip_training_rows(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  rows = [{'step': 2, 'loss': 1.0}, {'step': 2, 'validation_rmse': 0.5},
          {'step': 2, 'test_rmse': 0.6}, {'step': 3, 'loss': 0.9}]
  path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  assert tabular_baselines.evaluations(path, 'rmse') == {
      2: {'loss': 1.0, 'validation_rmse': 0.5, 'test_rmse': 0.6}}


@pytest.mark.parametrize('name', list(ft_config.DATASETS))
def test_the_config_evaluates_once_an_epoch(name):
  config = ft_config.get_config(name)
  config_schema.complete(config)
  rows = tabular.num_examples(config.input, 'train')
  assert config.evals.task.every_steps == math.ceil(rows / config.input.batch_size)
  assert config.evals.test.every_steps == config.evals.task.every_steps


@pytest.mark.slow  # Two trainings (compiles) of the smoke config: 23 min at load 30 here.
@flagsaver.flagsaver
def test_two_split_seeds_of_the_smoke_config(tmp_path, capsys):
  """Each seed's run trained in its own workdir; the printed mean is of the test accuracies at
  the picked steps, as metrics.jsonl holds them."""
  tabular_baselines.flags.FLAGS(['tabular_baselines', '--datasets=wine', '--seeds=2',
                                 '--models=ft_transformer', f'--ft_workdir={tmp_path}',
                                 '--ft_variant=smoke'])
  tabular_baselines.main([])
  lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('dataset=')]
  values = dict(item.split('=') for item in lines[0].split())
  assert values['model'] == 'ft_transformer'
  picked = [int(s) for s in values['steps'].split(',')]
  tests = [tabular_baselines.evaluations(tmp_path / 'wine' / f'split_seed{seed}' /
                                         'metrics.jsonl', 'accuracy')[step]['test_accuracy']
           for seed, step in enumerate(picked)]
  assert set(picked) <= {2, 4}
  assert values['seeds'] == ','.join(f'{v:.4f}' for v in tests)
  assert lines[1].split()[1] == 'model=ft_transformer_last'
