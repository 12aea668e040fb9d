"""Checks before the first step: everything a run will need, all problems reported at once.

A problem found here costs seconds; found after training (an evaluation entry with a typo, an
empty validation split, more classes than the model has) it cost the run. Only metadata is
read: split sizes and class lists, never the examples of a TFDS dataset (a pod run must not
read ImageNet to start).
"""
import difflib

from big_uni import config_schema, errors
from big_uni.evaluators import kinds


def _close(name: str, known) -> str:
  lower = {k.lower(): k for k in known}
  matches = [lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=3,
                                                         cutoff=0.6)]
  return f' (did you mean {" or ".join(repr(m) for m in matches)}?)' if matches else ''


def eval_problems(config, task) -> list[str]:
  """Each `config.evals` entry: a known kind, known fields, the required ones set, and a task
  that declares the features it reads (Task.feature_kinds)."""
  problems = []
  fields = config_schema.EVALS.sections
  for name, entry in (config.evals or {}).items():
    kind = entry['kind'] if 'kind' in entry else None
    where = f'config.evals.{name}'
    if kind not in fields:
      problems.append(f'{where}.kind={kind!r} is not an evaluation kind'
                      f'{_close(str(kind), fields)}; known: {sorted(fields)}')
      continue
    known = set(fields[kind])
    required = [k for k, default in fields[kind].items() if default is config_schema.REQUIRED]
    for field in sorted(set(entry) - known):
      problems.append(f'{where}.{field} is not a field of a {kind} evaluation'
                      f'{_close(field, known)}; its fields: {sorted(known)}')
    for field in required:
      if field not in entry:
        problems.append(f'{where} ({kind}) needs {field}')
    feature_problem = kinds.get(kind).feature_problem(task, config.task)
    if feature_problem:
      problems.append(f'{where}: {feature_problem}')
  return problems


def _towers(model) -> dict:
  """{name: (width, depth, num_heads, mlp_dim)} of a built model's encoders."""
  towers = {}
  for name in ('', 'image', 'text'):
    tower = getattr(model, name, None) if name else model
    if tower is None:
      continue
    block = getattr(tower, 'block', tower)  # A TextEncoder's BlockConfig, or the ViT itself.
    if hasattr(tower, 'width') and hasattr(block, 'num_heads'):
      towers[f'model.{name}.' if name else 'model.'] = (tower.width, tower.depth,
                                                        block.num_heads, block.mlp_dim)
  return towers


def model_problems(model) -> list[str]:
  """Sizes that are positive and a width the head count divides, per tower of the built
  `model` (its construction is lazy: nothing is traced yet)."""
  problems = []
  for prefix, (width, depth, heads, mlp_dim) in _towers(model).items():
    sizes = dict(width=width, depth=depth, num_heads=heads, mlp_dim=mlp_dim)
    bad = [f'{prefix}{k}={v}' for k, v in sizes.items() if v <= 0]
    if bad:
      problems.append(f'{", ".join(bad)}: sizes must be positive')
    elif width % heads:
      problems.append(f'{prefix}width={width} is not divisible by {prefix}num_heads={heads}: '
                      'each head gets width / num_heads channels')
  return problems


def batch_problems(config) -> list[str]:
  problems = []
  for name in ('batch_size', 'eval_batch_size'):
    value = config.input[name]
    if value <= 0:
      problems.append(f'input.{name}={value}: must be positive')
  return problems


def _splits(config, task) -> list[tuple[str, object, str]]:
  """(what, input section, split) of every split the run reads: each evaluation's through the
  input its kind reads."""
  splits = [('input.train_split', config.input, config.input.train_split),
            ('input.eval_split', config.input, config.input.eval_split)]
  for name, entry in (config.evals or {}).items():
    kind = entry['kind'] if 'kind' in entry else None
    if kind not in config_schema.EVALS.sections:
      continue  # eval_problems names it, as it names a task without the features read.
    evaluator = kinds.get(kind)
    if evaluator.feature_problem(task, config.task):
      continue
    input_config = evaluator.input_config(config, task, entry)
    for field in ('split', 'train_split', 'test_split'):
      if field in entry:
        splits.append((f'config.evals.{name}.{field}', input_config, entry[field]))
  return splits


def data_problems(config, task) -> list[str]:
  """Every split is there and non-empty; a classifier has a class for each of the data's."""
  if config.input.dataset == 'synthetic':
    return []
  import input_pipeline  # pylint: disable=g-import-not-at-top
  problems, seen, causes = [], set(), set()
  for what, input_config, split in _splits(config, task):
    dataset = input_config.dataset
    if (input_config.kind, dataset, split) in seen:
      continue
    seen.add((input_config.kind, dataset, split))
    try:
      count = input_pipeline.num_examples(input_config, split)
    except errors.UserInputError as e:
      if str(e) not in causes:  # A missing dataset is one problem, not one per split.
        causes.add(str(e))
        problems.append(f'{what}={split!r} of {dataset!r}: {e}')
      continue
    if not count:
      problems.append(f'{what}={split!r} of {dataset!r} has no examples')
  num_classes = config.model.num_classes if 'num_classes' in config.model else 0  # A classifier.
  if num_classes and not problems:
    names = input_pipeline.class_names(config.input)
    if names and len(names) > num_classes:
      problems.append(f'{config.input.dataset!r} has {len(names)} classes but '
                      f'model.num_classes={num_classes}: set model.num_classes={len(names)}')
  return problems


def preprocessing_problems(config) -> list[str]:
  """Every pp string names registered ops, in order, with arguments they take."""
  from input_pipeline import pp  # pylint: disable=g-import-not-at-top
  strings = [(f'input.{field}', config.input[field]) for field in ('pp_train', 'pp_eval')
             if field in config.input]
  trainers = [spec for _, spec in strings]  # An entry's pp_eval is the trainer's unless set.
  strings += [(f'evals.{name}.pp_eval', entry.pp_eval) for name, entry in config.evals.items()
              if 'pp_eval' in entry and entry.pp_eval not in trainers]
  problems = []
  for where, spec in strings:
    try:
      pp.check(spec, config.input)
    except errors.UserInputError as e:
      problems.append(f'config.{where}: {e}')
  return problems


def tokenizer_problems(config, task) -> list[str]:
  """The tokenizer has the model's vocabulary size (else the ids index the wrong rows)."""
  if 'tokenizer' not in config.input or task.vocab_size is None:
    return []
  from big_uni.tasks import base  # pylint: disable=g-import-not-at-top
  try:
    base.check_vocab_size(config.input.tokenizer, task.vocab_size)
  except errors.UserInputError as e:
    return [str(e)]
  return []


def check(config, task) -> None:
  """Raises one UserInputError listing every problem found (one problem: one line), or returns;
  `config` is complete (the task completed it)."""
  problems = (batch_problems(config) + model_problems(task.model) + eval_problems(config, task)
              + data_problems(config, task) + tokenizer_problems(config, task)
              + preprocessing_problems(config) + task.problems())
  # One cause found by two checks (a broken tokenizer file: by the data's and by its own).
  problems = [p for i, p in enumerate(problems) if not any(p in q for q in problems[:i])]
  if len(problems) == 1:
    raise errors.UserInputError(f'found before training: {problems[0]}')
  if problems:
    listed = '\n'.join(f'  - {p}' for p in problems)
    raise errors.UserInputError(f'{len(problems)} problem(s) found before training:\n{listed}')
