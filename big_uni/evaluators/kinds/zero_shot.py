"""CLIP zero-shot accuracy (evaluators/zero_shot.py): each class embedded as the ensemble of
the entry's templates filled with its name; '<name>/top1' and '<name>/top5'."""
import functools

from big_uni.evaluators import registry, zero_shot
from big_uni.evaluators.kinds import prompted


@registry.register
class ZeroShot(prompted.PromptedImages):
  kind = 'zero_shot'

  def __call__(self, features, entry):
    images, labels, names = self.images_and_names(features, entry)
    encode = functools.partial(features.texts, batch_size=entry.batch_size)
    classifier = zero_shot.zero_shot_classifier(names, list(entry.templates), encode)
    return zero_shot.zero_shot_accuracy(images, labels, classifier)
