"""The CLIP family's base: OpenAI's tower shapes and contrastive recipe, and its smoke version
(configs/common.py has the core every family shares)."""
import ml_collections

from configs import common, common_bert

# OpenAI CLIP: (image variant, text size, joint width); the text tower is 12 layers, 8 (B) or
# 12 (L) heads, a 49,408-token BPE vocabulary and 77 positions.
TOWERS = {'B/16': ('B/16', 'clip_b', 512), 'L/14': ('L/14', 'clip_l', 768)}
# OpenAI CLIP's per-channel RGB normalisation, as a preprocessing op of a pp string.
OPENAI_NORMALIZE = ('normalize((0.48145466, 0.4578275, 0.40821073), '
                    '(0.26862954, 0.26130258, 0.27577711))')


def openai_model(variant: str) -> ml_collections.ConfigDict:
  image_variant, text_variant, embed_dim = TOWERS[variant]
  return ml_collections.ConfigDict(dict(
      name='clip', embed_dim=embed_dim,
      # None: the contrastive loss's own init (CLIP: scale log(1 / 0.07), no bias; SigLIP:
      # log 10 and -10; tasks/contrastive.py).
      logit_scale_init=ml_collections.config_dict.placeholder(float),
      logit_bias_init=ml_collections.config_dict.placeholder(float),
      image=dict(variant=image_variant, patch_bias=False, pre_norm=True, activation='quick_gelu',
                 layer_norm_eps=1e-5),
      text=dict(variant=text_variant, vocab_size=49408, max_len=77, type_vocab_size=0,
                embed_norm=False, causal=True, norm_first=True, activation='quick_gelu',
                layer_norm_eps=1e-5)))


# The batch ops that caption each image after its image ops (input_pipeline/ops/text.py), in
# training and in evaluation: an image's own captions, or templates filled with its class name.
CAPTIONED = ('random_caption|tokenize', 'first_caption|tokenize')
CLASS_CAPTIONS = ('random_class_caption', 'class_caption')


def image_text_pp(augment: str, normalize: str = common.HALF_NORMALIZE,
                  captions: tuple[str, str] = CAPTIONED) -> dict:
  """input.pp_train and input.pp_eval: common.image_pp's, then the `captions` ops."""
  image = common.image_pp(augment, normalize)
  return dict(pp_train=f"{image['pp_train']}|{captions[0]}",
              pp_eval=f"{image['pp_eval']}|{captions[1]}")


def openai_bpe_tokenizer() -> ml_collections.ConfigDict:
  """OpenAI's byte-level BPE (49,408 ids; merges from open_clip's wheel, no download of weights)."""
  return ml_collections.ConfigDict(dict(kind='clip_bpe', lowercase=True, vocab_size=49408))


def pretraining(variant: str) -> ml_collections.ConfigDict:
  """OpenAI's recipe: batch 32,768, 32 epochs, AdamW (b2 0.98, eps 1e-6), wd 0.2, 2k warmup,
  cosine; here on TFDS coco_captions (OpenAI's 400M pairs are not public)."""
  config = common.core(task='contrastive', num_epochs=32.0)
  config.evals.task.every_steps = 1000
  config.model = openai_model(variant)
  config.input = ml_collections.ConfigDict(dict(
      dataset='coco_captions', train_split='train', eval_split='val',
      image_size=224, channels=3, batch_size=32768, eval_batch_size=1024,
      max_text_len=77, tokenizer=openai_bpe_tokenizer(),
      **image_text_pp('random_resized_crop(scale=(0.9, 1.0))', OPENAI_NORMALIZE)))
  config.optimizer.update(dict(lr=5e-4, weight_decay=0.2, b2=0.98, eps=1e-6,
                               warmup_steps=2000))
  # COCO 5k-style recall@1/5/10 both ways, at the end of training and in --mode=eval.
  config.evals.update(common.caption_retrieval_evals(config.input.eval_split))
  return config


def siglip(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """SigLIP (Zhai et al. 2023): the sigmoid loss, with its learnable logit bias and its init
  (t' = log 10, b = -10); `--config.contrastive_loss=sigmoid` on any CLIP config does the same."""
  config.contrastive_loss = 'sigmoid'
  return config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of 2-layer, 32-wide towers on captioned sklearn digits (8x8)."""
  config.evals.task.every_steps = 0
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.embed_dim = 16
  config.model.image.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, patch_size=4))
  config.model.text.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                                max_len=24))
  config.input.update(dict(
      dataset='digits', train_split='train', eval_split='test', image_size=8, channels=1,
      batch_size=16, eval_batch_size=64, cache=True, max_text_len=24,
      templates=('a photo of the number {label}.', 'a digit: {label}.'),
      **image_text_pp('pad_crop(1)', captions=CLASS_CAPTIONS)))
  config.input.tokenizer = common_bert.sentencepiece_tokenizer(1000, 'python_help')
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  # Digits have classes, not captions: the task's metrics only.
  config.evals = ml_collections.ConfigDict({'task': config.evals.task})
  return config
