"""Preprocessing ops that are not about one domain's data."""
from input_pipeline.ops import OPS
from input_pipeline.tf_cpu import tf


@OPS.register('label_int32')
def label_int32():
  """'label' (any integer dtype) -> int32 [], the dtype every task's labels have."""
  return lambda example, seed: {**example, 'label': tf.cast(example['label'], tf.int32)}
