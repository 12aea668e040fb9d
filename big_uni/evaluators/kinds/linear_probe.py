"""CLIP's logistic-regression probe (evaluators/linear_probe.py) trained on the train split's
features, C searched on held-out train rows, accuracy on the test split's."""
from big_uni.evaluators import linear_probe, registry
from big_uni.evaluators.kinds import labelled


@registry.register
class LinearProbe(labelled.LabelledFeatures):
  kind = 'linear_probe'

  def __call__(self, features, entry):
    train, test = self.splits(features, entry)
    result = linear_probe.linear_probe(train, None, test, None)
    return {k: v for k, v in result.items() if k != 'sweep'}
