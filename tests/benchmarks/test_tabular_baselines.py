"""benchmarks/tabular_baselines.py on one small table."""
from benchmarks import tabular_baselines
from input_pipeline import tables, tabular


def test_both_baselines_beat_the_majority_class_on_breast_cancer():
  splits = tabular.prepare(tables.load('breast_cancer'), 0)
  majority = max(splits['test'].label.mean(), 1 - splits['test'].label.mean())  # 0.61
  assert tabular_baselines.linear(splits, classes=True) > 0.9 > majority
  assert tabular_baselines.gbdt(splits, classes=True, seed=0) > 0.9
