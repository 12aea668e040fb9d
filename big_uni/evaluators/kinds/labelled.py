"""What kNN and the linear probe share: the features of a labelled train and test split, read
through the task's first feature kind (images for ViT and CLIP, BERT's pooled [CLS] for text)."""
from big_uni.evaluators import features as features_lib
from big_uni.evaluators import registry


class LabelledFeatures(registry.Evaluator):

  def input_kind(self, config, task):
    return features_lib.FEATURE_INPUTS[task.feature_kinds[0]]

  def feature_problem(self, task, task_name):
    if not task.feature_kinds:
      return (f'{self.kind} needs features ({" or ".join(registry.TOWERS.values())}); the '
              f'{task_name} task has none')
    return None

  def splits(self, features, entry):
    """(train, test) chunks.Chunks of the entry's splits, cached in `features` for the other
    evaluations of the same data."""
    return tuple(features.labelled(entry.dataset, split, entry.batch_size,
                                   pp_eval=entry.get('pp_eval'))
                 for split in (entry.train_split, entry.test_split))
