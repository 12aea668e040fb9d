"""Preprocessing ops by name, one module per domain (image.py, general.py, text.py); a config
chains them in a pp string (input_pipeline/pp.py).

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

Batch ops (text.py: captions, tokenizing, BERT's masking) run on numpy after batching, not in
tf.data: a tokenizer is python, and a table tokenized once (every class caption) is indexed by
the rows of a batch. Registered with @batch_op, a factory returns a function (batch, keys) ->
batch over a dict of numpy arrays whose 'position' int64 [B] is each row's position in the
stream; keys is uint64 [B], each row's key of the op's stream of BATCH_STREAMS
(stateless_random.row_keys(seed, index, position)), None for a deterministic op. A row's draws
are a function of (seed, its position) as an example's are, so restarts stay exact. In a pp
string the batch ops come after the per-example ones (pp.py splits the string there).
"""
import importlib

from input_pipeline.registry import Registry

STREAMS = ('crop', 'flip', 'erase')
# The streams of batch ops, by row_keys' stream index. Index 0 is also the stream BERT's pair
# building draws from (bert_pretraining.py, before its ops): a BERT row has no caption.
BATCH_STREAMS = ('caption', 'mask')

# Importing the domain modules registers their ops. A pipeline without TensorFlow (BERT) imports
# text.py itself: the registry finds what is registered before it loads the rest.
OPS = Registry('preprocessing op', load=lambda: [
    importlib.import_module(f'input_pipeline.ops.{domain}')
    for domain in ('image', 'general', 'text')])


def draws_from(stream: str):
  """Decorator of an op factory: the op is random and draws from `stream` (one of STREAMS)."""
  if stream not in STREAMS:
    raise ValueError(f'random stream {stream!r} is not one of {STREAMS}')

  def mark(factory):
    factory.stream = stream
    return factory
  return mark


def batch_op(stream: str | None = None):
  """Decorator of a batch op's factory (above); `stream` (one of BATCH_STREAMS) if it is random."""
  if stream is not None and stream not in BATCH_STREAMS:
    raise ValueError(f'random batch stream {stream!r} is not one of {BATCH_STREAMS}')

  def mark(factory):
    factory.batch = True
    factory.stream = stream
    return factory
  return mark


def stream_of(factory) -> str | None:
  """The stream a registered op draws from, None for a deterministic op."""
  return getattr(factory, 'stream', None)


def is_batch_op(factory) -> bool:
  return getattr(factory, 'batch', False)
