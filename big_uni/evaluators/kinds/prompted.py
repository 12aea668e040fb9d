"""What zero-shot and class-level retrieval share: the image features of a labelled split and
its class names, to be put into the entry's prompt templates and read by the text tower."""
from big_uni.evaluators import features as features_lib
from big_uni.evaluators import registry


class PromptedImages(registry.Evaluator):
  needs = ('image', 'text')

  def input_kind(self, config, task):
    return features_lib.FEATURE_INPUTS['image']

  def images_and_names(self, features, entry):
    """(image features float32 [N, D], labels int [N], the C class names) of the entry's split."""
    chunks = features.labelled(entry.dataset, entry.split, entry.batch_size, kind='image',
                               pp_eval=entry.get('pp_eval'))
    images, labels = features_lib.dense_features(chunks)
    return images, labels, features_lib.class_names(features.trainer, entry.dataset,
                                                    entry.class_names)
