"""TensorFlow and TFDS for tf.data only: every module of the data layer imports them from here, so
TensorFlow never takes accelerator memory (the accelerators belong to JAX) whichever path
imports it first."""
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

try:
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError as e:  # Something ran a TF op before this module was imported.
  logging.warning('TensorFlow already initialised its devices (%s): it may hold GPU memory', e)
tfds.disable_progress_bar()
