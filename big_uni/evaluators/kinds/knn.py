"""k-nearest-neighbour accuracy (evaluators/knn.py) of the test split's features against the
train split's gallery, for every K of the entry's ks: '<name>/knn_<K>_accuracy' and more."""
from big_uni.evaluators import knn, registry
from big_uni.evaluators.kinds import labelled


@registry.register
class Knn(labelled.LabelledFeatures):
  kind = 'knn'

  def __call__(self, features, entry):
    train, test = self.splits(features, entry)
    return knn.knn_accuracy(train, None, test, None, ks=tuple(entry.ks))
