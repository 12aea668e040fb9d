"""Preprocessing pipelines from pp strings: a config's input.pp_train and input.pp_eval name the
ops (ops/, registered by name) that turn one example into what the model reads, in order:

  'decode|pad_crop(pad=1)|flip_lr|normalize(0.5, 0.5)|random_erasing(0.25)|label_int32'

or a list of such strings, which are chained. An op's arguments are python literals, positional
or by name. Parameters of FROM_INPUT, where the string leaves them out, are fields of the input
section: `size` and `channels` its image_size and channels, the text ops' `tokenizer`, `max_len`
and the like (ops/text.py). The task builds its model and synthetic batches from those fields,
so one home for each keeps the pipeline and the model agreed.

Per-example ops run in tf.data, batch ops (ops/__init__.py) after batching in numpy; a string
has its per-example ops first: 'decode|...|label_int32|random_class_caption'.

Random ops draw from named streams (ops.STREAMS, ops.BATCH_STREAMS): each example's seed, a
function of the run's seed and the example's position in the global stream only, is split into
one seed per stream, so a restarted pipeline reproduces an uninterrupted one exactly whatever
the number of processes.
"""
import ast
import dataclasses
import inspect
from typing import Any, Callable

from input_pipeline import errors, stateless_random
from input_pipeline.ops import BATCH_STREAMS, OPS, STREAMS, is_batch_op, stream_of

# Op parameter -> the input field it is when the pp string does not give it (and the input
# section has that field).
FROM_INPUT = {'size': 'image_size', 'channels': 'channels', 'tokenizer': 'tokenizer',
              'max_len': 'max_text_len', 'templates': 'templates', 'class_names': 'class_names',
              'max_predictions': 'max_predictions'}


@dataclasses.dataclass(frozen=True)
class OpCall:
  """One op of a pp string: its name and the literal arguments the string gives it."""
  text: str  # As written (normalised by ast), for messages.
  name: str
  args: tuple
  kwargs: dict


def parse(spec) -> list[OpCall]:
  """A pp string, or a list of them, -> its op calls in order; refuses what is not 'name' or
  'name(literal arguments)' joined by '|'."""
  texts = [spec] if isinstance(spec, str) else list(spec)
  calls = []
  for text in texts:
    try:
      tree = ast.parse(str(text).strip(), mode='eval').body
    except SyntaxError:
      raise errors.UserInputError(f"pp {spec!r}: {text!r} is not ops joined by '|'") from None
    calls += [_call(node, spec) for node in _piped(tree)]
  return calls


def _piped(node) -> list:
  if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
    return _piped(node.left) + _piped(node.right)
  return [node]


def _call(node, spec) -> OpCall:
  text = ast.unparse(node)
  if isinstance(node, ast.Name):
    return OpCall(text, node.id, (), {})
  if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
    raise errors.UserInputError(f'pp {spec!r}: {text!r} is not an op (a name, or a name '
                                'with arguments in parentheses)')
  try:
    if any(keyword.arg is None for keyword in node.keywords):
      raise ValueError
    args = tuple(ast.literal_eval(arg) for arg in node.args)
    kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
  except ValueError:
    raise errors.UserInputError(f'pp op {text} in {spec!r}: arguments must be python '
                                'literals (numbers, strings, tuples)') from None
  return OpCall(text, node.func.id, args, kwargs)


def _bound(call: OpCall, spec, input_config) -> inspect.BoundArguments:
  """The arguments of `call`'s factory, FROM_INPUT ones filled from `input_config` (if given)."""
  signature = inspect.signature(OPS.get(call.name))
  try:
    given = signature.bind_partial(*call.args, **call.kwargs).arguments
    if input_config is not None:
      given.update({param: input_config[field] for param, field in FROM_INPUT.items()
                    if param in signature.parameters and param not in given
                    and field in input_config})
    bound = signature.bind(**given)
  except TypeError as e:
    raise errors.UserInputError(f'pp op {call.text} in {spec!r}: {e}') from None
  bound.apply_defaults()
  return bound


def arguments(spec, name: str) -> dict[str, Any]:
  """The arguments, defaults included, of the one op `name` of `spec`: e.g. the mean and std of
  its normalize, to show the images as they were. FROM_INPUT parameters are left out."""
  calls = [call for call in parse(spec) if call.name == name]
  if len(calls) != 1:
    raise errors.UserInputError(f'pp {spec!r} has {len(calls)} {name} ops, not one')
  signature = inspect.signature(OPS.get(name))
  try:
    given = signature.bind_partial(*calls[0].args, **calls[0].kwargs)
  except TypeError as e:
    raise errors.UserInputError(f'pp op {calls[0].text} in {spec!r}: {e}') from None
  given.apply_defaults()
  return {k: v for k, v in given.arguments.items() if k not in FROM_INPUT}


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """A pp string built: `example` (tf, in tf.data's map; None where it has no per-example op)
  then `batch` (numpy, on each batch)."""
  example: Callable[[dict], dict] | None
  batch: Callable[[dict], dict]


def _split(spec) -> tuple[list[OpCall], list[OpCall]]:
  """(per-example calls, batch calls) of `spec`; refuses a per-example op after a batch op."""
  calls = parse(spec)
  first_batch = next((i for i, c in enumerate(calls) if is_batch_op(OPS.get(c.name))),
                     len(calls))
  for call in calls[first_batch:]:
    if not is_batch_op(OPS.get(call.name)):
      raise errors.UserInputError(
          f'pp {spec!r}: {call.text} runs on one example, after the batch op '
          f'{calls[first_batch].text}: per-example ops come first')
  return calls[:first_batch], calls[first_batch:]


def check(spec, input_config) -> None:
  """Refuses what `build` would refuse of `spec`'s op names, order and arguments, building no
  op (preflight: before anything runs)."""
  example_calls, batch_calls = _split(spec)
  for call in example_calls + batch_calls:
    _bound(call, spec, input_config)


def per_example(spec) -> str:
  """The per-example part of `spec`, as a pp string: what reads images alone, e.g. a CLIP
  config's eval preprocessing without its captions."""
  return '|'.join(call.text for call in _split(spec)[0])


def build(spec, input_config, seed: int) -> Preprocessing:
  """The ops of `spec` in order. example['position'] (int64 []) is its position in the global
  stream: a random op's seed is stateless_split(stateless_fold_in([seed, 0], position),
  len(STREAMS))[its stream's index]; a random batch op's keys are row_keys(seed, its index in
  BATCH_STREAMS, batch['position']). Refuses an unknown op (naming the close ones), bad
  arguments, a per-example op after a batch op and two random ops on one stream (the second's
  draws would repeat the first's)."""
  example_calls, batch_calls = _split(spec)
  streams = {}

  def built(call):
    factory = OPS.get(call.name)
    bound = _bound(call, spec, input_config)
    stream = stream_of(factory)
    if stream is not None:
      if stream in streams:
        raise errors.UserInputError(
            f'pp {spec!r}: {streams[stream]} and {call.text} both draw from the {stream!r} '
            'random stream: one random op per stream')
      streams[stream] = call.text
    try:
      return factory(*bound.args, **bound.kwargs), stream
    except (TypeError, ValueError) as e:
      raise errors.UserInputError(f'pp op {call.text} in {spec!r}: {e}') from None

  example_ops = [built(call) for call in example_calls]
  batch_ops = [built(call) for call in batch_calls]

  def preprocess_batch(batch):
    for op, stream in batch_ops:
      keys = None if stream is None else stateless_random.row_keys(
          seed, BATCH_STREAMS.index(stream), batch['position'])
      batch = op(batch, keys)
    return batch

  return Preprocessing(_example_fn(example_ops, seed) if example_ops else None,
                       preprocess_batch)


def _example_fn(ops, seed: int) -> Callable[[dict], dict]:
  # TensorFlow only here: a pipeline of batch ops alone (BERT's) runs without it.
  from input_pipeline.tf_cpu import tf  # pylint: disable=g-import-not-at-top
  base_seed = tf.constant([seed, 0], tf.int64)
  ops = [(op, None if stream is None else STREAMS.index(stream)) for op, stream in ops]
  random = any(stream is not None for _, stream in ops)

  def preprocess(example):
    if random:
      seeds = tf.unstack(tf.random.experimental.stateless_split(
          tf.random.experimental.stateless_fold_in(base_seed, example['position']),
          len(STREAMS)))
    for op, stream in ops:
      example = op(example, None if stream is None else seeds[stream])
    return example

  return preprocess
