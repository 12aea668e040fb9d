"""Runs the evaluations `config.evals` names on a model's frozen features.

Each entry is a dict with `kind` and its data, e.g. (for a CLIP config):

  config.evals.zero_shot = dict(kind='zero_shot', dataset='fashion_mnist', split='test',
                                templates=('a photo of a {label}.',))
  config.evals.knn = dict(kind='knn', dataset='fashion_mnist', train_split='train',
                          test_split='test')
  config.evals.linear_probe = dict(kind='linear_probe', ...same fields as knn)
  config.evals.retrieval = dict(kind='retrieval', dataset='fashion_mnist', split='test',
                                templates=(...))

`every_steps` (0: only at the end of training) sets how often training runs one; `--mode=eval`
runs all of them. Images come through the image input pipeline of `config.input` with the entry's
dataset and split; features through the task's jitted `image_features` (and `text_features` for
zero-shot and retrieval), sharded like training batches.
"""
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import data, sharding
from big_uni.evaluators import knn, retrieval, zero_shot

KINDS = ('knn', 'linear_probe', 'zero_shot', 'retrieval')


class Features:
  """Jitted feature extraction for one trainer, with a cache per (dataset, split)."""

  def __init__(self, trainer, params):
    self.trainer, self.params, self._cache = trainer, params, {}
    mesh = trainer.mesh
    replicated = NamedSharding(mesh, PartitionSpec())
    param_shardings = trainer.state_shardings.params
    batch_sharding = sharding.batch_sharding(mesh)
    # Replicated outputs: every process gets the global batch's features (multi-host safe).
    self._images = jax.jit(trainer.task.image_features,
                           in_shardings=(param_shardings, batch_sharding),
                           out_shardings=replicated)
    if hasattr(trainer.task, 'text_features'):
      self._texts = jax.jit(trainer.task.text_features,
                            in_shardings=(param_shardings, batch_sharding, batch_sharding),
                            out_shardings=replicated)

  def images(self, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [N, D], labels int32 [N]) of every example of `split`."""
    key = (dataset, split)
    if key not in self._cache:
      config = self.trainer.config.copy_and_resolve_references()
      config.input.kind = 'image'
      config.input.dataset = dataset
      batches = data.get_iterator(config, split, train=False, task=self.trainer.task,
                                  process_index=jax.process_index(),
                                  process_count=jax.process_count())
      features, labels = [], []
      with self.trainer.context():
        for local_batch in batches:
          batch = sharding.global_batch(local_batch, self.trainer.mesh)
          valid = np.asarray(_replicated(batch['mask']))
          features.append(np.asarray(self._images(self.params, batch['image']))[valid])
          labels.append(np.asarray(_replicated(batch['label']))[valid])
      self._cache[key] = (np.concatenate(features).astype(np.float32), np.concatenate(labels))
    return self._cache[key]

  def texts(self, texts: list[str]) -> np.ndarray:
    """Text-tower features float32 [T, D] of `texts`, tokenized as the captions were."""
    from input_pipeline import tokenizers  # pylint: disable=g-import-not-at-top
    config = self.trainer.config
    tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
    ids, mask = tokenizer.encode_padded(texts, config.input.max_text_len)
    # Pad the rows to a multiple of the batch devices so the batch axis shards evenly.
    rows = -(-len(texts) // _batch_devices(self.trainer.mesh)) * _batch_devices(self.trainer.mesh)
    ids = np.pad(ids, ((0, rows - len(texts)), (0, 0)))
    mask = np.pad(mask, ((0, rows - len(texts)), (0, 0)))
    mask[len(texts):, 0] = True  # Padding rows get one token, so their pooling is defined.
    with self.trainer.context():
      batch_sharding = sharding.batch_sharding(self.trainer.mesh)
      features = self._texts(self.params, jax.device_put(ids, batch_sharding),
                             jax.device_put(mask, batch_sharding))
    return np.asarray(features)[:len(texts)].astype(np.float32)


def _batch_devices(mesh) -> int:
  return mesh.shape['data'] * mesh.shape['fsdp']


def _replicated(array):
  """A global array's full value on every process."""
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return multihost_utils.process_allgather(array, tiled=True)


def _class_names(trainer, eval_config) -> list[str]:
  if eval_config.get('class_names', None):
    return list(eval_config.class_names)
  import input_pipeline  # pylint: disable=g-import-not-at-top
  input_config = trainer.config.input.copy_and_resolve_references()
  input_config.dataset = eval_config.get('dataset', input_config.dataset)
  names = input_pipeline.class_names(input_config)
  if not names:
    raise ValueError(f'dataset {input_config.dataset!r} has no class names: set class_names in '
                     'the zero-shot evaluation config')
  return list(names)


def run_one(features: Features, eval_config) -> dict[str, float]:
  """One evaluation; returns its metrics (the caller prefixes them with the entry's name)."""
  kind = eval_config.kind
  dataset = eval_config.get('dataset', features.trainer.config.input.dataset)
  if kind in ('knn', 'linear_probe'):
    train_x, train_y = features.images(dataset, eval_config.train_split)
    test_x, test_y = features.images(dataset, eval_config.test_split)
    if kind == 'knn':
      return knn.knn_accuracy(train_x, train_y, test_x, test_y,
                              ks=tuple(eval_config.get('ks', (1, 3, 5, 7, 11, 21))))
    from big_uni.evaluators import linear_probe  # pylint: disable=g-import-not-at-top
    result = linear_probe.linear_probe(train_x, train_y, test_x, test_y)
    return {k: v for k, v in result.items() if k != 'sweep'}
  if kind in ('zero_shot', 'retrieval'):
    images, labels = features.images(dataset, eval_config.split)
    names = _class_names(features.trainer, eval_config)
    templates = list(eval_config.templates)
    if kind == 'zero_shot':
      classifier = zero_shot.zero_shot_classifier(names, templates, features.texts)
      return zero_shot.zero_shot_accuracy(images, labels, classifier)
    captions = [t.replace(zero_shot.LABEL_FIELD, n) for n in names for t in templates]
    caption_labels = np.repeat(np.arange(len(names)), len(templates))
    return retrieval.class_retrieval_recall(images, labels, features.texts(captions),
                                            caption_labels)
  raise ValueError(f'evaluation kind {kind!r}: use one of {KINDS}')


def run(trainer, params, step: int | None = None) -> dict[str, float]:
  """Every `config.evals` entry due at `step` (all of them when step is None), as
  {'<entry name>/<metric>': value}."""
  def due(eval_config):
    every = eval_config.get('every_steps', 0)
    return (step is None or step == trainer.total_steps or (every and step % every == 0))

  entries = {name: c for name, c in (trainer.config.get('evals', None) or {}).items() if due(c)}
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
