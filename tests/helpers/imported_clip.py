"""A random Hugging Face CLIP at reduced size with OpenAI's text sizes, the zero-shot config that
imports it (configs/clip_zero_shot.py:fashion_mnist), and transformers' own zero-shot top-1 on the
images our pipeline gives: the references of the imported-CLIP tests."""
import numpy as np

from big_uni import train
from big_uni.analysis import clip
from configs import clip_zero_shot
from input_pipeline import image_text, tokenizers
from tests.helpers import convert as helpers

IMAGE, PATCH = 32, 8
VISION = dict(width=48, depth=2, mlp_dim=96, num_heads=3)
TEXT = dict(width=32, depth=2, mlp_dim=64, num_heads=2)


def hf_clip(transformers, folder):
  """OpenAI's text sizes (49,408 BPE ids, 77 positions) with reduced towers."""
  model = helpers.hf_clip(transformers, VISION, TEXT, image_size=IMAGE, patch_size=PATCH,
                          vocab_size=49408, text_len=77, eos_token_id=49407, embed_dim=24)
  return model, helpers.save_hf(model, folder)


def zero_shot_config(path):
  config = clip_zero_shot.get_config('fashion_mnist')
  config.model.embed_dim = 24
  config.model.image.update(dict(variant='B/8', patch_size=PATCH, **VISION))
  config.model.text.update(TEXT)
  config.input.update(dict(image_size=IMAGE, eval_split='test[:200]', eval_batch_size=100))
  for evaluation in config.evals.values():
    evaluation.update({k: v for k, v in dict(
        split='test[:200]', test_split='test[:200]', train_split='train[:300]').items()
        if k in evaluation})
  config.init.clip.path = path
  return config


def reference_top1(torch, hf_model, config, templates):
  """transformers' zero-shot top-1 on the images our pipeline gives for the test split."""
  trainer = train.Trainer(config, total_steps=1)
  images, labels = clip.split_images(config, trainer.task, 'fashion_mnist', 'test[:200]')
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  names = image_text.READABLE_NAMES['fashion_mnist']
  with torch.no_grad():
    # transformers 5 returns the projected features as the output's pooler_output.
    image_features = hf_model.get_image_features(
        pixel_values=torch.tensor(images.transpose(0, 3, 1, 2))).pooler_output
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    classes = []
    for name in names:
      ids, mask = tokenizer.encode_padded([t.replace('{label}', name) for t in templates], 77)
      text = hf_model.get_text_features(input_ids=torch.tensor(ids, dtype=torch.long),
                                        attention_mask=torch.tensor(mask.astype(np.int64))
                                        ).pooler_output
      text = (text / text.norm(dim=-1, keepdim=True)).mean(0)
      classes.append(text / text.norm())
    predictions = (image_features @ torch.stack(classes).T).argmax(-1).numpy()
  return float(np.mean(predictions == labels)), len(labels)
