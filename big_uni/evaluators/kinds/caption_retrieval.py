"""COCO-style caption retrieval: every image of a captioned split (TFDS coco_captions,
captions_tsv:, wds:; COCO val has 5,000 images, 25,014 captions) against all its captions,
image->text and text->image recall@K (evaluators/retrieval.py): '<name>/image_to_text_recall_at_1'
and the like. On class-labelled data every template of the image's class is one of its captions.
"""
from big_uni.evaluators import registry, retrieval
from input_pipeline import image_text


@registry.register
class CaptionRetrieval(registry.Evaluator):
  kind = 'caption_retrieval'
  needs = ('image', 'text')

  def input_kind(self, config, task):
    return 'image_text'

  def __call__(self, features, entry):
    trainer = features.trainer
    pairs = image_text.eval_pairs(self.input_config(trainer.config, trainer.task, entry),
                                  entry.split)
    return retrieval.retrieval_recall(
        features.encode_images(pairs['image'], entry.batch_size),
        features.encode_texts(pairs['text_ids'], pairs['text_mask'], entry.batch_size),
        pairs['text_to_image'], ks=tuple(entry.ks))
