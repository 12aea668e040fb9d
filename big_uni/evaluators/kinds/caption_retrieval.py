"""COCO-style caption retrieval: every image of a captioned split (TFDS coco_captions,
captions_tsv:, wds:; COCO val has 5,000 images, 25,014 captions) against all its captions,
image->text and text->image recall@K (evaluators/retrieval.py): '<name>/image_to_text_recall_at_1'
and the like. On class-labelled data every template of the image's class is one of its captions.
"""
import numpy as np

from big_uni.evaluators import registry, retrieval
from input_pipeline import tokenizers
from input_pipeline.ops import text as text_ops


def eval_pairs(input_config, split: str, batch_size: int) -> dict[str, np.ndarray]:
  """Every image of `split` (an image_text input section's dataset) with all its captions, read
  by one process in order, `batch_size` at a time: image float32 [N, S, S, C], label int32 [N],
  text_ids int32 [T, L], text_mask bool [T, L], text_to_image int32 [T] (the image each caption
  describes). A captioned image has all its captions (COCO: 5 or more); a class-labelled one
  every template of its class (T = N x templates). The whole split is in memory: COCO's 5,000
  val images at 224 px take 3 GB."""
  # TensorFlow only when images are read: the trainer imports every evaluation kind.
  from input_pipeline import image_text, images  # pylint: disable=g-import-not-at-top
  source, captioned = image_text.source_of(input_config)
  tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
  batches = list(images.source_batches(
      source, input_config, split, train=False, global_batch_size=batch_size, seed=0,
      start_step=0, num_steps=None, process_index=0, process_count=1, batch_ops=False))
  pairs = {k: np.concatenate([b[k][b['mask']] for b in batches]) for k in ('image', 'label')}
  if captioned:
    captions = text_ops.split_captions(
        np.concatenate([b['captions'][b['mask']] for b in batches]))
    ids, mask = tokenizer.encode_padded([c for cs in captions for c in cs],
                                        input_config.max_text_len)
    counts = [len(c) for c in captions]
  else:
    table_ids, table_mask = image_text.caption_table(input_config, source, tokenizer)
    ids = table_ids[pairs['label']].reshape(-1, input_config.max_text_len)
    mask = table_mask[pairs['label']].reshape(-1, input_config.max_text_len)
    counts = np.full(len(pairs['label']), table_ids.shape[1])
  text_to_image = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
  return {**pairs, 'text_ids': ids, 'text_mask': mask, 'text_to_image': text_to_image}


@registry.register
class CaptionRetrieval(registry.Evaluator):
  kind = 'caption_retrieval'
  needs = ('image', 'text')

  def input_kind(self, config, task):
    return 'image_text'

  def __call__(self, features, entry):
    trainer = features.trainer
    pairs = eval_pairs(self.input_config(trainer.config, trainer.task, entry), entry.split,
                       entry.batch_size)
    return retrieval.retrieval_recall(
        features.encode_images(pairs['image'], entry.batch_size),
        features.encode_texts(pairs['text_ids'], pairs['text_mask'], entry.batch_size),
        pairs['text_to_image'], ks=tuple(entry.ks))
