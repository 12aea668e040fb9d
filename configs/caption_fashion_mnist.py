"""Image captioning on Fashion-MNIST: a ViT encoder and a text decoder cross-attending to its
tokens (models/captioner.py), on a 2-core CPU in about 10 minutes.

Captions: 'a {shade} {label}.', the readable class name and 'dark' or 'light', how bright the
item is against Fashion-MNIST's median (input_pipeline/ops/text.py shade_caption): 'a light
ankle boot.', 'a dark t-shirt.'. The class alone does not tell the shade, so a caption must look
at the image twice. Model: the ViT of clip_fashion_mnist.py (4 layers, 96 wide, patch 7: 16
tokens) and a 2-layer, 96-wide GPT-style decoder over a 1k sentencepiece vocabulary trained on
Austen, tied logits. Evaluations at the end, on the 10k test images: the task's teacher-forced
loss, token accuracy and perplexity; generated captions (greedy and beam search, 4 beams) scored
by BLEU against the test caption, exact match and class-word accuracy (does the caption name the
image's class); kNN and a linear probe on the mean image token.

Variants (`--config=configs/caption_fashion_mnist.py:<arg>`):
  data=coco  for users: TFDS coco_captions (downloads about 20 GB), a B/16 encoder at 224 px and
             a 6-layer, 512-wide decoder over OpenAI's BPE; only its shapes are checked here
  smoke      a few steps of tiny towers on 8x8 digits

COMMAND:
  python -m big_uni.main --config=configs/caption_fashion_mnist.py --workdir=/tmp/caption
Expected (measured 2026-12-07, 850,176 params, 3,000 steps at batch 128 = 6.4 epochs; on the 10k
test images, each with its one reference caption):
              BLEU   exact caption   class-word accuracy
  greedy      88.08      83.41%            86.02%
  beam 4      88.22      83.61%            86.23%   (length penalty 0.6)
  teacher-forced token accuracy 98.31%, perplexity 1.045; on the mean image token kNN 83.9%
  (K=11), linear probe 85.2% (the ViT of vit_fashion_mnist.py trained on labels: 91.7%). Beam
  search barely differs: a caption is 4 or 5 words of one pattern. The class is the hard part:
  of the captions naming the right class, 97% also get the shade right.
  Wall time 18 min 16 s on the 2 cores shared with other jobs (load average about 4; a second run
  under load 9-13 took 39 min 36 s and gave the same figures to the last digit); 20 min of CPU
  time, about 10 min on 2 idle cores. At 1,500 steps: BLEU 85.55 / 85.55, class-word accuracy
  82.75% / 82.84% (greedy / beam 4).
"""
import ml_collections

from configs import common, common_bert, common_clip

TEMPLATES = ('a {shade} {label}.',)
# shade_caption names the class and its shade in training and in evaluation.
SHADE_CAPTIONS = ('shade_caption|tokenize',) * 2


def _generation_evals() -> ml_collections.ConfigDict:
  """Captions written greedily and with 4 beams (GNMT length penalty 0.6)."""
  return ml_collections.ConfigDict({
      'captions_greedy': dict(kind='generation', beam_size=1),
      'captions_beam4': dict(kind='generation', beam_size=4, alpha=0.6)})


def fashion_mnist() -> ml_collections.ConfigDict:
  config = common.core(task='captioning', total_steps=3000, log_every_steps=100,
                       checkpoint_every_steps=1000)
  config.model = ml_collections.ConfigDict(dict(
      name='captioner',
      image=dict(variant='micro/7', width=96, mlp_dim=384, pool='gap'),
      text=dict(variant='mini', width=96, depth=2, mlp_dim=384, num_heads=2, vocab_size=1000,
                max_len=16, dropout=0.0)))
  config.input = ml_collections.ConfigDict(dict(
      dataset='fashion_mnist', train_split='train', eval_split='test', image_size=28,
      channels=1, batch_size=128, eval_batch_size=500, cache=True, max_text_len=16,
      templates=TEMPLATES, **common_clip.image_text_pp('pad_crop(2)|flip_lr',
                                                      captions=SHADE_CAPTIONS)))
  config.input.tokenizer = common_bert.sentencepiece_tokenizer(1000)
  config.optimizer.update(dict(lr=2e-3, weight_decay=0.05, warmup_steps=300))
  config.evals.update(_generation_evals())
  config.evals.update(common.feature_evals('fashion_mnist'))
  return config


def coco() -> ml_collections.ConfigDict:
  """TFDS coco_captions: a random one of an image's captions in training, its first in
  evaluation (the reference BLEU compares with), 20 epochs of 118k images."""
  config = common.core(task='captioning', num_epochs=20.0, log_every_steps=100,
                       checkpoint_every_steps=2000)
  config.evals.task.every_steps = 2000
  config.model = ml_collections.ConfigDict(dict(
      name='captioner', image=dict(variant='B/16'),
      text=dict(variant='small', width=512, depth=6, mlp_dim=2048, num_heads=8,
                vocab_size=49408, max_len=32)))
  config.input = ml_collections.ConfigDict(dict(
      dataset='coco_captions', train_split='train', eval_split='val', image_size=224,
      channels=3, batch_size=256, eval_batch_size=256, max_text_len=32,
      tokenizer=common_clip.openai_bpe_tokenizer(),
      **common_clip.image_text_pp('random_resized_crop(scale=(0.9, 1.0))',
                                  common_clip.OPENAI_NORMALIZE)))
  config.optimizer.update(dict(lr=3e-4, weight_decay=0.05, warmup_steps=2000))
  config.evals.update(_generation_evals())
  return config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of 2-layer, 32-wide towers on sklearn digits (8x8), captioned by shade."""
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.image.update(dict(variant='micro/4', width=32, depth=2, mlp_dim=64,
                                 num_heads=2))
  config.model.text.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                                max_len=16))
  config.input.update(dict(
      dataset='digits', train_split='train', eval_split='test', image_size=8, channels=1,
      batch_size=16, eval_batch_size=64, cache=True, max_text_len=16, templates=TEMPLATES,
      **common_clip.image_text_pp('pad_crop(1)', captions=SHADE_CAPTIONS)))
  config.input.tokenizer = common_bert.sentencepiece_tokenizer(1000, 'python_help')
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  config.evals = ml_collections.ConfigDict({
      'task': config.evals.task,
      'captions_greedy': dict(kind='generation', beam_size=1, split='test[:64]')})
  return config


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, data=('fashion_mnist', 'coco'), smoke=False)
  config = fashion_mnist() if arg.data == 'fashion_mnist' else coco()
  return smoke(config) if arg.smoke else config
