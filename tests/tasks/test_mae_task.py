"""The MAE task on the trainer: a tiny config memorises a batch; masks follow (seed, step); the
feature evaluations read the labels its batches leave out."""
import jax
import numpy as np
import pytest

from big_uni import tasks, train
from big_uni.evaluators import runner
from configs import common, mae_fashion_mnist
from tests.helpers import synthetic_steps


@pytest.mark.slow  # 150 steps: 116 s on the 2-core CPU shared with two training runs.
def test_tiny_config_overfits_one_batch():
  """8 noise images: any visible patch names its image, so the decoder can learn every other
  patch of it, whichever are masked at a step."""
  config = synthetic_steps.smoke_config(mae_fashion_mnist, total_steps=150)
  losses = [m['loss'] for m in synthetic_steps.overfit(config, lr=1e-2)]
  assert losses[0] > 0.8  # Normalised targets: about 1 for a prediction of ~0.
  assert np.mean(losses[-10:]) < 0.25 * losses[0]


def test_masks_are_a_function_of_the_step_rng():
  config = synthetic_steps.smoke_config(mae_fashion_mnist)
  task = tasks.build_task(config)
  step = jax.random.fold_in(jax.random.key(0), 7)
  first, again = task.visible(step, 4), task.visible(step, 4)
  np.testing.assert_array_equal(first, again)
  other = task.visible(jax.random.fold_in(jax.random.key(0), 8), 32)
  assert first.shape == (4, 1) and len(set(np.asarray(other).ravel())) > 1


# 26 CPU-s for its pytest process (1,797 digits through the encoder, kNN at K = 1..21), 17 min
# wall at load 30: the slow call.
@pytest.mark.slow
def test_knn_reads_the_labels_the_task_trains_without():
  """MAE's batches are images alone; kNN (as the linear probe: both through Features.labelled)
  reads the same data with its classes. The encoder at initialisation: random features of
  digits are far above chance."""
  config = mae_fashion_mnist.get_config('smoke')
  config.evals = common.feature_evals('digits', 'train', 'test')
  del config.evals['linear_probe']  # Its search over C: seconds more, through the same features.
  trainer = train.Trainer(config)
  metrics = runner.run(trainer, trainer.init_state().params)
  assert metrics['knn/knn_1_accuracy'] > 0.3, metrics
