"""The tf.data image pipeline (input.kind='image'), sharded per process.

Each step's rows are chosen by index (sampling.py) and read by random access from the source
(sources.py, caption_sources.py); tf.data preprocesses them in parallel (the per-example ops
of input.pp_train or input.pp_eval, pp.py) and batches them, and the pp string's batch ops
(captions for CLIP: ops/text.py) complete each batch in numpy.
`get_iterator` yields this process's share of every global batch as numpy arrays.
"""
import numpy as np

from input_pipeline import config_schema, errors, pp, sampling, sources
from input_pipeline.tf_cpu import tf


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields {'image': float32 [B, S, S, C], 'label': int32 [B]} (B = global_batch_size //
  process_count: this process's rows of each global batch).

  train=True: endless (or `num_steps` batches) from batch `start_step`, each epoch a new
    permutation of the split (seeded), preprocessed by input.pp_train with seeds from each
    row's stream position.
  train=False: one ordered pass, preprocessed by input.pp_eval; every batch has 'mask' (bool
    [B], False on padding) and all processes yield the same number of batches, so multi-host
    eval stays in lockstep.
  """
  return source_batches(
      sources.get_source(input_config), input_config, split, train=train,
      global_batch_size=global_batch_size, seed=seed, start_step=start_step, num_steps=num_steps,
      process_index=process_index, process_count=process_count)


def source_batches(source, input_config, split: str, *, train: bool, global_batch_size: int,
                   seed: int, start_step: int, num_steps: int | None, process_index: int,
                   process_count: int, batch_ops: bool = True):
  """`get_iterator` over any source (and `input_config` the pp ops read: pp.FROM_INPUT);
  batch_ops=False leaves out the pp string's batch ops (an evaluation reading every caption of
  an image, not the one they choose)."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  local_batch = sampling.local_batch_size(global_batch_size, process_count)
  if input_config.cache:
    examples = _in_memory(source, split, input_config.channels)
  else:
    examples = source.examples(split)
  shards = dict(global_batch_size=global_batch_size, process_index=process_index,
                process_count=process_count)
  if train:
    rows = sampling.train_rows(len(examples), seed, start_step=start_step, num_steps=num_steps,
                               **shards)
    spec = input_config.pp_train
  else:
    rows = sampling.eval_rows(len(examples), **shards)
    spec = input_config.pp_eval
  preprocessing = pp.build(spec if batch_ops else pp.per_example(spec), input_config, seed)

  def read_rows():
    for r in rows:
      yield {'position': r.positions, 'mask': r.mask, **examples.read(r.indices)}

  signature = {'position': tf.TensorSpec((), tf.int64), 'mask': tf.TensorSpec((), tf.bool),
               **examples.signature}
  ds = tf.data.Dataset.from_generator(read_rows, output_signature={
      key: tf.TensorSpec((local_batch, *spec.shape), spec.dtype)
      for key, spec in signature.items()})
  options = tf.data.Options()
  options.deterministic = True
  # tf.data's autotuning thread held process exit for ~35 s after training (seen with TF 2.21);
  # fixed parallelism (one map call per core) keeps the pipeline far ahead of the model anyway.
  options.autotune.enabled = False
  ds = ds.unbatch()
  if preprocessing.example is not None:
    ds = ds.map(preprocessing.example, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(local_batch).prefetch(2).with_options(options)
  return _finished(ds.as_numpy_iterator(), preprocessing.batch, train)


def _finished(batches, batch_ops, train: bool):
  for batch in batches:
    batch = batch_ops(batch)
    del batch['position']
    mask = batch.pop('mask')
    yield batch if train else sampling.padded(batch, mask)


_DECODED = {}  # (source.key, split, channels) -> _decoded(...), once per process.


def _decoded(source, split: str, channels: int) -> dict:
  """Every example of `split`, images decoded: {'image': uint8 [N, H, W, C], other keys}."""
  key = (source.key, split, channels)
  if key not in _DECODED:
    _DECODED[key] = _decode_all(source.examples(split), split, channels)
  return _DECODED[key]


def _decode_all(examples: sources.Examples, split: str, channels: int) -> dict:
  fields = examples.read(np.arange(len(examples)))
  decoded = tf.data.Dataset.from_tensor_slices(fields['image']).map(
      lambda image: tf.io.decode_image(image, channels=channels, expand_animations=False),
      num_parallel_calls=tf.data.AUTOTUNE)
  try:
    return {**fields, 'image': np.stack(list(decoded.as_numpy_iterator()))}
  except ValueError:
    raise errors.UserInputError(f'input.cache=True holds a split in memory as one array, but the images of '
                     f'{split!r} differ in size: set input.cache=False') from None


def _in_memory(source, split: str, channels: int) -> sources.Examples:
  """input.cache (small datasets): the split read and decoded once, held in memory."""
  fields = _decoded(source, split, channels)
  signature = {**source.signature,
               'image': tf.TensorSpec(fields['image'].shape[1:], tf.uint8)}
  return sources.Examples(len(fields['image']), signature,
                          lambda indices: {k: v[indices] for k, v in fields.items()})


def num_examples(input_config, split: str) -> int:
  return sources.get_source(input_config).num_examples(split)


def class_names(input_config) -> list[str] | None:
  return sources.get_source(input_config).class_names
