"""Preprocessing ops by name, one module per domain (image.py, general.py); a config chains them
in a pp string (input_pipeline/pp.py).

An op is registered as a factory: it takes the arguments the pp string gives and returns a
function (example, seed) -> example, where seed is int64 [2] for a random op and None for a
deterministic one, which ignores it:

  @OPS.register('flip_lr')
  @draws_from('flip')
  def flip_lr():
    return image_op(lambda image, seed: tf.image.stateless_random_flip_left_right(image, seed))

A random op draws from one named stream of STREAMS. Each example's seed is split into one seed
per stream, in this order, so the draws of one op do not depend on which other ops the pipeline
has: turning flips on or off leaves every crop bitwise as it was, and a resumed run reproduces
the uninterrupted one. A new stream goes at the end: the first k rows of stateless_split do not
depend on the number of rows asked for, so the existing streams' seeds stay as they are.
"""
import importlib

from input_pipeline.registry import Registry

STREAMS = ('crop', 'flip', 'erase')

# Importing the domain modules registers their ops.
OPS = Registry('preprocessing op', load=lambda: [
    importlib.import_module(f'input_pipeline.ops.{domain}') for domain in ('image', 'general')])


def draws_from(stream: str):
  """Decorator of an op factory: the op is random and draws from `stream` (one of STREAMS)."""
  if stream not in STREAMS:
    raise ValueError(f'random stream {stream!r} is not one of {STREAMS}')

  def mark(factory):
    factory.stream = stream
    return factory
  return mark


def stream_of(factory) -> str | None:
  """The stream a registered op draws from, None for a deterministic op."""
  return getattr(factory, 'stream', None)
