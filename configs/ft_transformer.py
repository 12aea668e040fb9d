"""FT-Transformer (models/ft_transformer.py) on small tables that ship offline.

The paper's default model (3 blocks, D 192, 8 heads, attention dropout 0.2, MLP dropout 0.1)
and optimizer (AdamW, constant lr 1e-4, weight decay 1e-5 on weight matrices only, no
clipping); a fixed number of epochs where the paper stops early on validation (patience 16).
Splits and preprocessing: input_pipeline/tabular.py (64/16/20%, quantile-transformed numeric
columns, standardized regression targets, so `rmse` is in target standard deviations).

Variants (`--config=configs/ft_transformer.py:<arg>`):
  breast_cancer  binary, 30 numeric columns (scikit-learn's bundled table); the default
  wine           3 classes, 13 numeric columns (scikit-learn)
  diabetes       regression, 10 numeric columns (scikit-learn)
  fair_affairs   binary, 6 numeric + 2 categorical columns (statsmodels' wheel, read offline)
  smoke          a few steps of a tiny model, e.g. `fair_affairs,smoke`

COMMAND:
  python -m big_uni.main --config=configs/ft_transformer.py:fair_affairs --workdir=/tmp/ftt_fair
"""
import ml_collections

from configs import common

# name: (task, numeric columns, category sizes, outputs, batch size, epochs).
DATASETS = {
    'breast_cancer': ('tabular_classification', 30, (), 2, 32, 100.0),
    'wine': ('tabular_classification', 13, (), 3, 16, 150.0),
    'diabetes': ('tabular_regression', 10, (), 1, 32, 100.0),
    'fair_affairs': ('tabular_classification', 6, (6, 6), 2, 128, 30.0),
}


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, data=tuple(DATASETS), smoke=False)
  task, num_numeric, category_sizes, num_outputs, batch_size, epochs = DATASETS[arg.data]
  config = common.core(task=task, num_epochs=epochs, log_every_steps=100,
                       checkpoint_every_steps=1000)
  config.evals.test = dict(kind='task_metrics', split='test')
  config.model = ml_collections.ConfigDict(dict(
      name='ft_transformer', num_numeric=num_numeric, category_sizes=category_sizes,
      num_outputs=num_outputs))
  config.input = ml_collections.ConfigDict(dict(
      dataset=arg.data, train_split='train', eval_split='validation', batch_size=batch_size,
      eval_batch_size=256))
  config.optimizer.update(dict(lr=1e-4, weight_decay=1e-5, decay='constant',
                               grad_clip_norm=0.0))
  return smoke(config) if arg.smoke else config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """4 steps of a 1-block, 16-wide model."""
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=16, depth=1, num_heads=2, mlp_dim=32))
  config.input.update(dict(batch_size=8, eval_batch_size=64))
  return config
