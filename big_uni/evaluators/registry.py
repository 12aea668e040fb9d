"""What an evaluation kind is: the Evaluator interface and KINDS, where each kind registers.

Each kind is one module of evaluators/kinds/ that registers its Evaluator in KINDS (an
input_pipeline.registry.Registry) with `@register`; importing that package registers them all
and gives the lookup (`kinds.get`). Its entry's fields (and their defaults) are
declared in big_uni/config_schema.py EVALS. An evaluation reads its own data (dataset, split and batch size from its entry) and
names its own metrics, so the trainer runs every entry alike: when it is due, and again on a
resume when metrics.jsonl lacks it (found by `prefix`).
"""
import ml_collections

from big_uni import config_schema
from input_pipeline import pp
from input_pipeline.registry import Registry

KINDS = Registry('evaluation kind')
TOWERS = {'image': 'an image tower', 'text': 'a text tower'}  # Task.feature_kinds, for messages.


def input_section(input_config, kind: str, dataset: str,
                  pp_eval: str | None = None) -> ml_collections.ConfigDict:
  """An input section of `kind` for `dataset`: the fields of that kind `input_config` (the
  trainer's) sets, so images are preprocessed and texts tokenized as in training (or by the
  evaluation's own `pp_eval`, if given); the schema's defaults for the rest."""
  fields = config_schema.INPUT.sections[kind]
  section = ml_collections.ConfigDict(
      {k: input_config[k] for k in fields if k in input_config and k != 'kind'})
  section.update(dict(kind=kind, dataset=dataset))
  spec = input_config.get('pp_eval') if pp_eval is None else pp_eval
  if 'pp_eval' in fields and spec is not None:
    # Another kind than the trainer's reads the images alone: the batch ops of its pp string
    # make what the trainer's kind gives besides (CLIP's captions: input_pipeline/ops/text.py).
    section.pp_eval = spec if kind == input_config.get('kind') else pp.per_example(spec)
  return config_schema.completed(section, config_schema.INPUT)


class Evaluator:
  """One kind of evaluation. `needs` are the Task.feature_kinds it reads, all of them;
  `runs_first` puts it before the other evaluations due at the same step."""

  kind: str
  needs: tuple[str, ...] = ()
  runs_first = False

  def prefix(self, name: str, entry) -> str:
    """What the names of entry `name`'s metrics start with: '<name>/' (e.g. knn/knn_1_accuracy)."""
    return f'{name}/'

  def input_kind(self, config, task) -> str:
    """The input kind of the data it reads."""
    raise NotImplementedError

  def input_config(self, config, task, entry) -> ml_collections.ConfigDict:
    """The input section of the data it reads (preflight checks its splits through it)."""
    return input_section(config.input, self.input_kind(config, task), entry.dataset,
                         entry.get('pp_eval'))

  def feature_problem(self, task, task_name: str) -> str | None:
    """Why the task `task_name` cannot feed this evaluation, or None."""
    missing = [kind for kind in self.needs if kind not in task.feature_kinds]
    if missing:
      towers = ' and '.join(TOWERS[kind] for kind in missing)
      return f'{self.kind} needs {towers}; the {task_name} task has none'
    return None

  def __call__(self, features, entry) -> dict[str, float]:
    """The metrics of one evaluation, without the prefix; `features` is a features.Features of
    the params evaluated."""
    raise NotImplementedError


def register(cls: type[Evaluator]) -> type[Evaluator]:
  """Class decorator: makes `cls.kind` an evaluation kind (one instance of `cls` runs it)."""
  KINDS.register(cls.kind, cls())
  return cls

