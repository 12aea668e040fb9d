"""Imported CLIP weights evaluated as they are: zero-shot classification with the seeds' prompt
and with OpenAI's 80-template ensemble, a linear probe and kNN on the frozen image features.

The weights come from `config.init.clip`: a Hugging Face CLIPModel folder (kind 'hf_clip', e.g.
openai/clip-vit-base-patch16 downloaded with `huggingface-cli download`) or an OpenAI / open_clip
state dict (kind 'openai_clip'; open_clip's non-quickgelu models also need
--config.model.image.activation=gelu --config.model.text.activation=gelu). Text goes through
OpenAI's BPE (input_pipeline.tokenizers, kind 'clip_bpe'). `--mode=eval` on an empty workdir
evaluates the weights as loaded.

Variants (`--config=configs/clip_zero_shot.py:<arg>`): data=<name> (`:<name>` for short), B/16 at
224 px on either
  flowers102     oxford_flowers102 (TFDS: `tfds build oxford_flowers102`), 6,149 test images; the
                 default
  fashion_mnist  offline: the first 1,000 Fashion-MNIST test images (greyscale, upscaled)
or, with the flag smoke, the zero-shot evaluation of a tiny, randomly initialised CLIP on sklearn
digits.

COMMAND:
  python -m big_uni.main --config=configs/clip_zero_shot.py:flowers102 --mode=eval \
      --config.init.clip.path=/ckpt/clip-vit-base-patch16 --workdir=/tmp/clip_flowers
Published reference (CLIP paper, Table 11, zero-shot): ViT-B/16 Flowers102 68.7% (OpenAI's
prompts). Not measured here: no CLIP weights install offline on our machines.
"""
import ml_collections

from configs import common, common_clip, common_constants

# name: (TFDS dataset, kNN/probe train split, test split, the seeds' prompt)
DATASETS = {
    'flowers102': ('oxford_flowers102', 'train+validation', 'test',
                   'An image of {label}, a type of flower.'),
    'fashion_mnist': ('fashion_mnist', 'train[:2000]', 'test[:1000]',
                      'An image of {label}, a type of clothing.'),
}


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, data=tuple(DATASETS), smoke=False)
  if arg.smoke:  # The tiny CLIP of the smoke tests, randomly initialised: no weights.
    config = common_clip.smoke(common_clip.pretraining('B/16'))
    config.evals.zero_shot = dict(kind='zero_shot', dataset='digits', split='test',
                                  templates=config.input.templates)
    return config
  dataset, train_split, test_split, prompt = DATASETS[arg.data]
  config = common_clip.pretraining('B/16')
  config.model.logit_scale_init = 0.0  # Replaced by the imported one.
  # The contrastive eval loss pairs each test image with the prompt of its class.
  config.input.update(dict(dataset=dataset, eval_split=test_split, eval_batch_size=250,
                           templates=(prompt,), **common_clip.image_text_pp(
                               'random_resized_crop(scale=(0.9, 1.0))',
                               common_clip.OPENAI_NORMALIZE, common_clip.CLASS_CAPTIONS)))
  if arg.data == 'fashion_mnist':
    config.input.channels = 3
  data = dict(dataset=dataset, split=test_split)
  del config.evals['caption_retrieval']  # Class-labelled data: zero-shot, kNN and the probe.
  config.evals.update({
      'zero_shot': dict(kind='zero_shot', templates=(prompt,), **data),
      'zero_shot_openai_80': dict(kind='zero_shot',
                                  templates=common_constants.OPENAI_IMAGENET_TEMPLATES, **data),
      **common.feature_evals(dataset, train_split=train_split, test_split=test_split)})
  config.init = ml_collections.ConfigDict({'clip': dict(
      kind='hf_clip', path=ml_collections.config_dict.placeholder(str))})
  return config
