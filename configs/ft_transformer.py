"""FT-Transformer (models/ft_transformer.py) on small tables that ship offline.

The paper's default model (3 blocks, D 192, 8 heads, attention dropout 0.2, MLP dropout 0.1)
and optimizer (AdamW, constant lr 1e-4, weight decay 1e-5 on weight matrices only, no
clipping). Validation and test are evaluated once an epoch; the paper's protocol, the test
metric at the step its early stopping keeps (best validation accuracy or RMSE, patience 16
epochs), is read off metrics.jsonl by benchmarks/tabular_baselines.py --models=ft_transformer:
the trainer itself runs the fixed epochs below and its last step is not the reported figure.
Splits and preprocessing: input_pipeline/tabular.py (64/16/20%, quantile-transformed numeric
columns, standardized regression targets, so `rmse` is in target standard deviations).

Variants (`--config=configs/ft_transformer.py:<arg>`):
  breast_cancer  binary, 30 numeric columns (scikit-learn's bundled table); the default
  wine           3 classes, 13 numeric columns (scikit-learn)
  diabetes       regression, 10 numeric columns (scikit-learn)
  fair_affairs   binary, 6 numeric + 2 categorical columns (statsmodels' wheel, read offline)
  smoke          a few steps of a tiny model, e.g. `fair_affairs,smoke`

COMMAND (one run; `--config.input.split_seed=<s>` for another split):
  python -m big_uni.main --config=configs/ft_transformer.py:fair_affairs --workdir=/tmp/ftt_fair
Every table, split seeds 0-2, test at the early-stopping step, beside both baselines:
  python -m benchmarks.tabular_baselines --models=ft_transformer,linear,gbdt --seeds=3 \
      --ft_workdir=/tmp/tabular_ft
Parameters (`--mode=shapes`): 897,026 for fair_affairs; the paper's default blocks are 891,072
of them (3 x 297,024), the rest its tokens, final LayerNorm and head.

Not under-trained (fair_affairs, split seed 0, lr 1e-4 for 30 epochs): after one epoch the
validation accuracy is already 72.1% (test 71.6%), the linear model's level; at the end the
model fits the training split better than the tuned logistic regression (train loss in eval
mode 0.503 vs 0.538) while its validation loss is worse (0.571 vs 0.533), and from epoch to
epoch the validation accuracy swings between 68% and 73% (the 68.8% the earlier last-step
report gave is one of its troughs). A longer schedule or a higher lr would fit the training
split further; the paper's selection on validation is the fix, so lr and epochs stay the
paper's default and these. No lr was tuned (no test figure chose anything).

Wall time with the CPU reserved (docs/results.md, "Timing"): the default (breast_cancer, 1,138
steps) 2 min 52 s; fair_affairs (955 steps, 10.1 steps/s) 2 min 4 s, its last step 68.81% as
below.
Measured, the test metric at the early-stopping step (its epoch), beside the baselines on the
same split; each is its run's metrics.jsonl read by tabular_baselines.evaluations and
early_stopped, the seeds= values the command above prints once all its seeds have run:
  split seed 0   FT-Transformer          linear     gbdt
  breast_cancer  92.98% (epoch 30)       96.49%     92.98%    linear wins
  wine           97.22% (epoch 3)        100.00%    100.00%   both win (1 row of 36)
  diabetes       RMSE 0.737 (epoch 2)    0.690      0.696     both win
  fair_affairs   72.51% (epoch 16)       72.74%     72.58%    a tie (3 rows of 1,273)
  split seed 1
  wine           97.22% (epoch 3)        100.00%    97.22%    linear wins
  diabetes       RMSE 0.777 (epoch 8)    0.769      0.828     linear wins, FT beats gbdt
The last step instead: fair_affairs seed 0 68.81% (the earlier report), diabetes seed 1 RMSE
1.003: selection on validation is what makes the FT-Transformer competitive here.
Baselines, split seeds 0-4, mean +- std of test accuracy (RMSE in target stds for diabetes):
  python -m benchmarks.tabular_baselines   (about 2 min at one OpenMP thread)
  breast_cancer  linear 97.19 +- 1.70%, gbdt 95.09 +- 2.39%
  wine           linear 97.78 +- 2.08%, gbdt 97.78 +- 2.08%
  diabetes       linear 0.736 +- 0.041, gbdt 0.748 +- 0.070
  fair_affairs   linear 72.71 +- 0.87%, gbdt 72.84 +- 0.94% (seed 0: 72.74%, 72.58%); always
                 "none" scores 68.11% on seed 0's test split (68.99% on validation)
Split seeds 0-2 (the command above, --models=ft_transformer), mean +- std of the 3 seeds:
                 FT, early stop   FT, last step    linear (5 seeds)  gbdt (5 seeds)
  breast_cancer  95.03 +- 2.30%   96.49 +- 2.86%   97.19 +- 1.70%    95.09 +- 2.39%
  wine           96.30 +- 1.31%   98.15 +- 1.31%   97.78 +- 2.08%    97.78 +- 2.08%
  diabetes       0.767 +- 0.021   0.952 +- 0.068   0.736 +- 0.041    0.748 +- 0.070
  fair_affairs   72.53 +- 0.35%   70.83 +- 1.70%   72.71 +- 0.87%    72.84 +- 0.94%
The linear model wins or ties on every table; the early-stopped FT-Transformer is level with
gradient boosting on breast_cancer and fair_affairs and behind both on diabetes; on wine its
last step beats the validation pick (its validation split is under 30 rows).
"""
import ml_collections

from configs import common

# name: (task, numeric columns, category sizes, outputs, rows of the training split, batch size,
# epochs).
DATASETS = {
    'breast_cancer': ('tabular_classification', 30, (), 2, 364, 32, 100.0),
    'wine': ('tabular_classification', 13, (), 3, 114, 16, 150.0),
    'diabetes': ('tabular_regression', 10, (), 1, 283, 32, 100.0),
    'fair_affairs': ('tabular_classification', 6, (6, 6), 2, 4074, 128, 30.0),
}


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, data=tuple(DATASETS), smoke=False)
  (task, num_numeric, category_sizes, num_outputs, train_rows, batch_size,
   epochs) = DATASETS[arg.data]
  config = common.core(task=task, num_epochs=epochs, log_every_steps=100,
                       checkpoint_every_steps=1000)
  # Validation and test once an epoch, as the paper: benchmarks/tabular_baselines.py reads the
  # test metric at the step its early stopping would keep off metrics.jsonl.
  steps_per_epoch = -(-train_rows // batch_size)
  config.evals.task.every_steps = steps_per_epoch
  config.evals.test = dict(kind='task_metrics', split='test', every_steps=steps_per_epoch)
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
  """4 steps of a 1-block, 16-wide model, evaluated every 2."""
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.evals.task.every_steps = config.evals.test.every_steps = 2
  config.model.update(dict(width=16, depth=1, num_heads=2, mlp_dim=32))
  config.input.update(dict(batch_size=8, eval_batch_size=64))
  return config
