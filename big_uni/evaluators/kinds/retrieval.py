"""Class-level image<->text retrieval (evaluators/retrieval.py): the captions are the entry's
templates filled with each class name; a caption matches every image of its class."""
from big_uni.evaluators import registry, retrieval, zero_shot
from big_uni.evaluators.kinds import prompted


@registry.register
class Retrieval(prompted.PromptedImages):
  kind = 'retrieval'

  def __call__(self, features, entry):
    images, labels, names = self.images_and_names(features, entry)
    captions, caption_labels = zero_shot.class_captions(names, list(entry.templates))
    return retrieval.class_retrieval_recall(
        images, labels, features.texts(captions, batch_size=entry.batch_size), caption_labels)
