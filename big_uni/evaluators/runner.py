"""Runs the evaluations `config.evals` names on a model's frozen features.

Each entry is a dict with `kind` and its data, e.g. (for a CLIP config):

  config.evals.zero_shot = dict(kind='zero_shot', dataset='fashion_mnist', split='test',
                                templates=('a photo of a {label}.',))
  config.evals.knn = dict(kind='knn', dataset='fashion_mnist', train_split='train',
                          test_split='test')
  config.evals.linear_probe = dict(kind='linear_probe', ...same fields as knn)
  config.evals.retrieval = dict(kind='retrieval', dataset='fashion_mnist', split='test',
                                templates=(...))
  config.evals.caption_retrieval = dict(kind='caption_retrieval', split='val', ks=(1, 5, 10))

`retrieval` is class-level (captions made from class names); `caption_retrieval` is COCO-style
(configs/common.py: caption_retrieval_evals): every image of a captioned split
(input_pipeline.image_text.eval_pairs: COCO val has 5,000 images, 25,014 captions) against all
its captions, image->text and text->image recall@K. `every_steps` (0: only at the end of
training) sets how often training runs one; `--mode=eval` runs all of them. Images come through
the image input pipeline of `config.input` with the entry's dataset and split; features through
the task's jitted `image_features` (and `text_features` for zero-shot and retrieval).

kNN and the probe see the features as chunks.Chunks: one chunk per eval batch, rows sharded
over the devices as the batch was, kept there (no host holds the gallery), with the labels and
padding masks on every host.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import config_schema, data, sharding
from big_uni.evaluators import chunks, knn, retrieval, zero_shot
from input_pipeline import sampling

KINDS = ('knn', 'linear_probe', 'zero_shot', 'retrieval', 'caption_retrieval')


class Features:
  """Jitted feature extraction for one trainer, with a cache per (dataset, split)."""

  def __init__(self, trainer, params):
    self.trainer, self.params, self._cache = trainer, params, {}
    param_shardings = trainer.state_shardings.params
    rows = sharding.batch_sharding(trainer.mesh)
    self._images = jax.jit(trainer.task.image_features, in_shardings=(param_shardings, rows),
                           out_shardings=rows)
    if hasattr(trainer.task, 'text_features'):
      self._texts = jax.jit(trainer.task.text_features,
                            in_shardings=(param_shardings, rows, rows), out_shardings=rows)
    # [batches, B, D]: each device keeps its rows of every batch, where they were computed.
    self._stack = jax.jit(lambda *batches: jnp.stack(batches), out_shardings=NamedSharding(
        trainer.mesh, PartitionSpec(None, *rows.spec)))

  def images(self, dataset: str, split: str) -> chunks.Chunks:
    """Every example of `split`: features float32 [batches, B, D] on the devices, labels and
    valid [batches, B] in numpy (B = input.eval_batch_size; valid is False on padding)."""
    key = (dataset, split)
    if key not in self._cache:
      config = self.trainer.config.copy_and_resolve_references()
      config.input.kind = 'image'
      config.input.dataset = dataset
      batches = data.get_iterator(config, split, train=False, task=self.trainer.task,
                                  process_index=jax.process_index(),
                                  process_count=jax.process_count())
      features, labels, valid = [], [], []
      with self.trainer.context():
        for local_batch in batches:
          batch = sharding.global_batch(local_batch, self.trainer.mesh)
          features.append(self._images(self.params, batch['image']).astype(jnp.float32))
          labels.append(_replicated(batch['label']))
          valid.append(_replicated(batch['mask']))
        self._cache[key] = chunks.Chunks(self._stack(*features), np.stack(labels),
                                         np.stack(valid))
    return self._cache[key]

  def encode_images(self, images: np.ndarray) -> np.ndarray:
    """Image features float32 [N, D] of images [N, S, S, C] (the same on every process)."""
    return self._encode(self._images, images)

  def encode_texts(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Text features float32 [T, D] of token ids and mask [T, L] (the same on every process)."""
    return self._encode(self._texts, ids, mask)

  def texts(self, texts: list[str]) -> np.ndarray:
    """Text-tower features float32 [T, D] of `texts`, tokenized as the captions were."""
    from input_pipeline import tokenizers  # pylint: disable=g-import-not-at-top
    config = self.trainer.config
    tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
    return self.encode_texts(*tokenizer.encode_padded(texts, config.input.max_text_len))

  def _encode(self, encode, *inputs) -> np.ndarray:
    """`encode` over rows [N, ...] of host arrays, input.eval_batch_size rows at a time (the
    last batch padded: padding text rows get one token, so their pooling is defined)."""
    config = self.trainer.config.input
    batch_size = config.eval_batch_size
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


def run_one(features: Features, eval_config) -> dict[str, float]:
  """One evaluation; returns its metrics (the caller prefixes them with the entry's name)."""
  kind = eval_config.kind
  config = features.trainer.config
  dataset = eval_config.dataset
  if kind in ('knn', 'linear_probe'):
    train = features.images(dataset, eval_config.train_split)
    test = features.images(dataset, eval_config.test_split)
    if kind == 'knn':
      return knn.knn_accuracy(train, None, test, None,
                              ks=tuple(eval_config.ks))
    from big_uni.evaluators import linear_probe  # pylint: disable=g-import-not-at-top
    result = linear_probe.linear_probe(train, None, test, None)
    return {k: v for k, v in result.items() if k != 'sweep'}
  if kind in ('zero_shot', 'retrieval'):
    images, labels = dense_features(features.images(dataset, eval_config.split))
    names = class_names(features.trainer, dataset, eval_config.class_names)
    templates = list(eval_config.templates)
    if kind == 'zero_shot':
      classifier = zero_shot.zero_shot_classifier(names, templates, features.texts)
      return zero_shot.zero_shot_accuracy(images, labels, classifier)
    captions, caption_labels = zero_shot.class_captions(names, templates)
    return retrieval.class_retrieval_recall(images, labels, features.texts(captions),
                                            caption_labels)
  if kind == 'caption_retrieval':
    from input_pipeline import image_text  # pylint: disable=g-import-not-at-top
    input_config = config.input.copy_and_resolve_references()
    input_config.dataset = dataset
    pairs = image_text.eval_pairs(input_config, eval_config.split)
    return retrieval.retrieval_recall(
        features.encode_images(pairs['image']),
        features.encode_texts(pairs['text_ids'], pairs['text_mask']), pairs['text_to_image'],
        ks=tuple(eval_config.ks))
  raise ValueError(f'evaluation kind {kind!r}: use one of {KINDS}')


def due(trainer, step: int) -> list[str]:
  """The names of the `config.evals` entries due at `step`: every `every_steps` (0: never during
  training) and all of them at the last step. Called every step: reads the config the Trainer
  completed, without completing it again."""
  def is_due(eval_config):
    every = eval_config.every_steps
    return step == trainer.total_steps or bool(every and step % every == 0)

  return [name for name, c in trainer.config.evals.items() if is_due(c)]


def run(trainer, params, names: list[str] | None = None) -> dict[str, float]:
  """The `config.evals` entries `names` (all of them when None), as
  {'<entry name>/<metric>': value}."""
  evals = config_schema.complete(trainer.config).evals  # Entries set after the Trainer too.
  entries = {name: c for name, c in evals.items() if names is None or name in names}
  if not entries:
    return {}
  features = Features(trainer, params)
  metrics = {}
  for name, eval_config in entries.items():
    metrics.update({f'{name}/{k}': v for k, v in run_one(features, eval_config).items()})
  return metrics


def format_results(metrics: dict[str, float]) -> str:
  """Human-readable lines, with the kNN tables as K | majority | weighted."""
  lines, knn_groups = [], {}
  for key, value in metrics.items():
    name, _, metric = key.partition('/')
    if metric.startswith('knn_'):
      knn_groups.setdefault(name, {})[metric] = value
    else:
      lines.append(f'{key} = {value:.4f}')
  for name, group in knn_groups.items():
    lines.append(f'{name}:\n{knn.format_table(group)}')
  return '\n'.join(lines)
