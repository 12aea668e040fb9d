"""The batch a task declares: each array's name, per-row shape and dtype.

One declaration (`Task.batch`) drives three things: the input pipeline that feeds the task (the
one giving these names: input_pipeline.kind_giving, so configs never name it), the synthetic
batches of benchmarks and tests, and the check that task and data agree, made on the first batch
of every run and evaluation so that a mismatch is one clear error, not a shape error in XLA.
"""
import dataclasses

import numpy as np

from big_uni import errors

Dim = int | str  # A size, or the dotted config path holding it ('input.image_size').


@dataclasses.dataclass(frozen=True)
class Field:
  """One array of a batch: `shape` per row, `dtype`, and how synthetic values are drawn:
  floats standard normal (or all `fill`); integers uniform in [`low`, `high`), or with
  `distinct` each row sorted and without repeats (positions to predict, each with one target);
  bools all True, or with `min_length` a prefix of random length in [min_length, the row's
  length] (a text mask)."""
  shape: tuple[Dim, ...]
  dtype: str
  high: Dim | None = None
  low: int = 0
  distinct: bool = False
  fill: float | None = None
  min_length: int | None = None


def _value(config, dim: Dim) -> int:
  if isinstance(dim, int):
    return dim
  value = config
  for key in dim.split('.'):
    value = value[key]
  return value


def resolve(declared: dict[str, Field], config) -> dict[str, Field]:
  """`declared` with every dimension read from `config` (complete)."""
  return {name: dataclasses.replace(
      field, shape=tuple(_value(config, d) for d in field.shape),
      high=None if field.high is None else _value(config, field.high))
          for name, field in declared.items()}


def synthetic(spec: dict[str, Field], rng: np.random.Generator, rows: int) -> dict:
  """Random arrays of `spec` (resolved), `rows` of them."""
  batch = {}
  for name, field in spec.items():
    shape = (rows, *field.shape)
    if field.fill is not None:
      batch[name] = np.full(shape, field.fill, field.dtype)
    elif field.dtype == 'bool' and field.min_length is not None:
      lengths = rng.integers(field.min_length, shape[-1] + 1, (*shape[:-1], 1))
      batch[name] = np.arange(shape[-1]) < lengths
    elif field.dtype == 'bool':
      batch[name] = np.ones(shape, bool)
    elif field.distinct:
      choices = np.tile(np.arange(field.low, field.high), (*shape[:-1], 1))
      batch[name] = np.sort(rng.permuted(choices, axis=-1)[..., :shape[-1]], axis=-1).astype(
          field.dtype)
    elif np.issubdtype(field.dtype, np.integer):
      batch[name] = rng.integers(field.low, field.high, shape, dtype=field.dtype)
    else:
      batch[name] = rng.standard_normal(shape, np.float32).astype(field.dtype)
  return batch


def _describe(dtype, shape) -> str:
  return f'{np.dtype(dtype).name} [{", ".join(map(str, shape))}]'


def check(batch: dict, spec: dict[str, Field], task_name: str, source: str) -> None:
  """Raises a UserInputError naming each array of `spec` that `batch` (rows first) lacks or
  gives in another per-row shape or dtype; `source` says where the batch came from."""
  problems = []
  for name, field in spec.items():
    if name not in batch:
      problems.append(f'no {name!r} (it gives {sorted(batch)})')
      continue
    array = np.asarray(batch[name])
    if array.dtype != np.dtype(field.dtype) or array.shape[1:] != field.shape:
      problems.append(f'{name!r} {_describe(array.dtype, array.shape[1:])} per row where the '
                      f'task expects {_describe(field.dtype, field.shape)}')
  if problems:
    raise errors.UserInputError(f'the {task_name} task and its data disagree: {source} gives '
                                f'{"; ".join(problems)}')


def checked(batches, spec: dict[str, Field], task_name: str, source: str,
            also: tuple[str, ...] = ('mask',)):
  """`batches` with only the arrays of `spec` and those of `also` they have (an eval batch's
  'mask'), the first checked. Closing it closes `batches` (a tf.data iterator left to
  interpreter exit logs an error)."""
  try:
    first = True
    for batch in batches:
      if first:
        check(batch, spec, task_name, source)
        first = False
      yield {name: batch[name] for name in (*spec, *also) if name in batch}
  finally:
    if hasattr(batches, 'close'):
      batches.close()
