"""A model's frozen features as the evaluators read them: jitted towers, sharded rows, a cache.

The task declares which features it has (`Task.feature_kinds`: 'image', 'text'); each feature
kind reads labelled examples through one input kind (FEATURE_INPUTS), whose section an
evaluation builds from the trainer's (its preprocessing and tokenizer) with its own dataset.

kNN and the probe see the features as chunks.Chunks: one chunk per eval batch, rows sharded
over the devices as the batch was, kept there (no host holds the gallery), with the labels and
padding masks on every host.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import errors, sharding
from big_uni.evaluators import chunks, registry
from input_pipeline import sampling

# Feature kind -> the input kind its labelled examples come from.
FEATURE_INPUTS = {'image': 'image', 'text': 'text_classification'}


def labelled_input(config, kind: str, dataset: str, pp_eval: str | None = None):
  """The input section whose labelled examples the features of `kind` read: the trainer's
  preprocessing (or `pp_eval`, if given) or tokenizer, for `dataset`."""
  return registry.input_section(config.input, FEATURE_INPUTS[kind], dataset, pp_eval)


class Features:
  """Jitted feature extraction for one trainer, with a cache per (kind, dataset, split, batch)."""

  def __init__(self, trainer, params):
    self.trainer, self.params, self._cache = trainer, params, {}
    param_shardings = trainer.state_shardings.params
    rows = sharding.batch_sharding(trainer.mesh)
    kinds = trainer.task.feature_kinds
    if 'image' in kinds:
      self._images = jax.jit(trainer.task.image_features, in_shardings=(param_shardings, rows),
                             out_shardings=rows)
    if 'text' in kinds:
      self._texts = jax.jit(trainer.task.text_features,
                            in_shardings=(param_shardings, rows, rows), out_shardings=rows)
    # [batches, B, D]: each device keeps its rows of every batch, where they were computed.
    self._stack = jax.jit(lambda *batches: jnp.stack(batches), out_shardings=NamedSharding(
        trainer.mesh, PartitionSpec(None, *rows.spec)))

  def labelled(self, dataset: str, split: str, batch_size: int | None = None,
               kind: str | None = None, pp_eval: str | None = None) -> chunks.Chunks:
    """Every example of `split` through the features of `kind` (default: the task's first):
    features float32 [batches, B, D] on the devices, labels and valid [batches, B] in numpy
    (B = `batch_size`, default input.eval_batch_size; valid is False on padding). Images are
    preprocessed by `pp_eval` (default input.pp_eval)."""
    kind = kind or self.trainer.task.feature_kinds[0]
    config = self.trainer.config
    batch_size = batch_size or config.input.eval_batch_size
    input_config = labelled_input(config, kind, dataset, pp_eval)
    # The preprocessing it resolved (its own, the trainer's, or none for text) keys the cache.
    key = (kind, dataset, split, batch_size, str(input_config.get('pp_eval')))
    if key not in self._cache:
      batches = self.trainer.data.batches(split, train=False, batch_size=batch_size,
                                          input_config=input_config, labels=True)
      features, labels, valid = [], [], []
      with self.trainer.context():
        for local_batch in batches:
          batch = sharding.global_batch(local_batch, self.trainer.mesh)
          features.append(self._batch_features(kind, batch, dataset).astype(jnp.float32))
          labels.append(_replicated(batch['label']))
          valid.append(_replicated(batch['mask']))
        self._cache[key] = chunks.Chunks(self._stack(*features), np.stack(labels),
                                         np.stack(valid))
    return self._cache[key]

  def _batch_features(self, kind: str, batch, dataset: str):
    if kind == 'image':
      return self._images(self.params, batch['image'])
    if np.any(_replicated(batch['segment_ids'])):
      raise errors.UserInputError(
          f'{dataset!r} has text pairs: text features (kNN, linear probe) read one text each')
    return self._texts(self.params, batch['input_ids'], batch['input_mask'])

  def encode_images(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Image features float32 [N, D] of images [N, S, S, C] (the same on every process)."""
    return self._encode(self._images, batch_size, images)

  def encode_texts(self, ids: np.ndarray, mask: np.ndarray,
                   batch_size: int | None = None) -> np.ndarray:
    """Text features float32 [T, D] of token ids and mask [T, L] (the same on every process)."""
    return self._encode(self._texts, batch_size, ids, mask)

  def texts(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
    """Text-tower features float32 [T, D] of `texts`, tokenized as the captions were."""
    from input_pipeline import tokenizers  # pylint: disable=g-import-not-at-top
    config = self.trainer.config
    tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
    return self.encode_texts(*tokenizer.encode_padded(texts, config.input.max_text_len),
                             batch_size=batch_size)

  def _encode(self, encode, batch_size: int | None, *inputs) -> np.ndarray:
    """`encode` over rows [N, ...] of host arrays, `batch_size` (default input.eval_batch_size)
    rows at a time (the last batch padded: padding text rows get one token, so their pooling
    is defined)."""
    batch_size = batch_size or self.trainer.config.input.eval_batch_size
    rows = sharding.batch_sharding(self.trainer.mesh)
    outputs = []
    with self.trainer.context():
      for start in range(0, len(inputs[0]), batch_size):
        batch = [x[start:start + batch_size] for x in inputs]
        count = len(batch[0])
        batch = [sampling.pad_rows(x, batch_size) for x in batch]
        if len(batch) == 2:  # (text ids, text mask)
          batch[1][count:, 0] = True
        features = encode(self.params, *(jax.device_put(x, rows) for x in batch))
        outputs.append(np.asarray(_replicated(features), np.float32)[:count])
    return np.concatenate(outputs)


def _replicated(array):
  """A global array's full value on every process."""
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def dense_features(features: chunks.Chunks) -> tuple[np.ndarray, np.ndarray]:
  """(features [N, D], labels [N]) of the valid rows, on every host (zero-shot test sets)."""
  valid = features.valid.reshape(-1)
  x = _replicated(features.features)
  return x.reshape(-1, x.shape[-1])[valid], features.labels.reshape(-1)[valid]


def class_names(trainer, dataset: str, names=()) -> list[str]:
  """`names` (an entry's class_names) when given, else `dataset`'s own (input_pipeline)."""
  if names:
    return list(names)
  import input_pipeline  # pylint: disable=g-import-not-at-top
  input_config = trainer.config.input.copy_and_resolve_references()
  input_config.dataset = dataset
  names = input_pipeline.class_names(input_config)
  if not names:
    raise ValueError(f'dataset {input_config.dataset!r} has no class names: set class_names in '
                     'the zero-shot evaluation config')
  return list(names)
