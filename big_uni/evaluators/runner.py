"""Runs the evaluations `config.evals` names, each by its registered kind (evaluators/kinds/).

Each entry is a dict with `kind`, `every_steps` (0: only at the end of training) and its own
data (`dataset`, its split fields, `batch_size`), e.g. (for a CLIP config):

  config.evals.task = dict(kind='task_metrics', every_steps=1000)  # split: input.eval_split
  config.evals.zero_shot = dict(kind='zero_shot', dataset='fashion_mnist', split='test',
                                templates=('a photo of a {label}.',))
  config.evals.knn = dict(kind='knn', dataset='fashion_mnist', train_split='train',
                          test_split='test')
  config.evals.linear_probe = dict(kind='linear_probe', ...same fields as knn)
  config.evals.retrieval = dict(kind='retrieval', dataset='fashion_mnist', split='test',
                                templates=(...))
  config.evals.caption_retrieval = dict(kind='caption_retrieval', split='val', ks=(1, 5, 10))

Training runs every entry that is due (and all of them at the last step); `--mode=eval` runs all
of them. The task's metrics are named '<split>_<metric>' (test_accuracy), every other entry's
'<entry name>/<metric>' (knn/knn_1_accuracy): each kind's `prefix`.
"""
from big_uni import config_schema
from big_uni.evaluators import features as features_lib
from big_uni.evaluators import kinds, knn


def _ordered(evals, names) -> list[str]:
  """`names` with the kinds that run first (the task's metrics) ahead, else in config order."""
  return sorted(names, key=lambda name: not kinds.get(evals[name].kind).runs_first)


def due(trainer, step: int) -> list[str]:
  """The names of the `config.evals` entries due at `step`: every `every_steps` (0: never during
  training) and all of them at the last step. Called every step: reads the config the Trainer
  completed, without completing it again."""
  def is_due(entry):
    every = entry.every_steps
    return step == trainer.total_steps or bool(every and step % every == 0)

  evals = trainer.config.evals
  return _ordered(evals, [name for name, entry in evals.items() if is_due(entry)])


def prefixes(config, names: list[str]) -> dict[str, str]:
  """{entry name: what its metric names start with}, to find an entry's rows in metrics.jsonl."""
  return {name: kinds.get(config.evals[name].kind).prefix(name, config.evals[name])
          for name in names}


def run_one(features: features_lib.Features, entry) -> dict[str, float]:
  """One evaluation; returns its metrics (the caller prefixes them: `prefixes`)."""
  return kinds.get(entry.kind)(features, entry)


def run(trainer, params, names: list[str] | None = None) -> dict[str, float]:
  """The `config.evals` entries `names` (all of them when None), as {prefixed name: value}."""
  evals = config_schema.complete(trainer.config).evals  # Entries set after the Trainer too.
  names = _ordered(evals, [name for name in evals if names is None or name in names])
  if not names:
    return {}
  features = features_lib.Features(trainer, params)
  metrics = {}
  for name, prefix in prefixes(trainer.config, names).items():
    metrics.update({prefix + k: v for k, v in run_one(features, evals[name]).items()})
  return metrics


def format_results(metrics: dict[str, float]) -> str:
  """Human-readable lines: the task's metrics on one line, the kNN tables as K | majority |
  weighted, every other metric on a line of its own."""
  task = ', '.join(f'{k}={v:.4f}' for k, v in metrics.items() if '/' not in k)
  lines, knn_groups = [task] if task else [], {}
  for key, value in metrics.items():
    name, _, metric = key.partition('/')
    if metric.startswith('knn_'):
      knn_groups.setdefault(name, {})[metric] = value
    elif metric:
      lines.append(f'{key} = {value:.4f}')
  for name, group in knn_groups.items():
    lines.append(f'{name}:\n{knn.format_table(group)}')
  return '\n'.join(lines)
