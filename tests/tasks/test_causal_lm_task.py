"""The causal LM task: the loss is the mean cross-entropy of the real next tokens only."""
import jax
import numpy as np
import optax

from big_uni import train
from configs import lm_austen


def _task_and_params():
  config = lm_austen.get_config('smoke')
  config.input.dataset = 'synthetic'
  trainer = train.Trainer(config, total_steps=1)
  return trainer.task, trainer.init_state().params


def _padded_batch(task):
  """4 rows of 32 tokens with 2, 5, 32 and 20 real ones, then 2 padding rows of an eval batch."""
  batch = task.synthetic_batch(np.random.default_rng(0), 6)
  batch['input_mask'] = np.arange(32) < np.array([2, 5, 32, 20, 0, 0])[:, None]
  batch['mask'] = np.array([True] * 4 + [False] * 2)
  return batch


def test_eval_loss_is_the_mean_over_real_next_tokens():
  task, params = _task_and_params()
  batch = _padded_batch(task)
  sums = jax.device_get(task.eval_sums(params, batch))
  assert sums['loss'][1] == 1 + 4 + 31 + 19
  logits = task.model.apply({'params': params}, batch['input_ids'])
  losses = optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1],
                                                           batch['input_ids'][:, 1:])
  expected = sum(losses[row, :n - 1].sum() for row, n in enumerate([2, 5, 32, 20]))
  np.testing.assert_allclose(sums['loss'][0], expected, rtol=1e-5)
  # Padding tokens and rows are in no prediction.
  noisy = {**batch, 'input_ids': np.where(batch['input_mask'] & batch['mask'][:, None],
                                          batch['input_ids'], 7).astype(np.int32)}
  np.testing.assert_allclose(jax.device_get(task.eval_sums(params, noisy))['loss'][0],
                             sums['loss'][0], rtol=1e-5)


def test_the_loss_weight_is_the_batchs_prediction_count():
  task, _ = _task_and_params()
  batch = _padded_batch(task)
  del batch['mask']
  assert float(task.loss_weights(batch)['loss']) == 1 + 4 + 31 + 19


def test_perplexity_is_the_exponential_of_the_loss():
  task, _ = _task_and_params()
  means = task.summarize_eval({'loss': float(np.log(42.0)), 'accuracy': 0.5})
  assert means['accuracy'] == 0.5 and abs(means['perplexity'] - 42.0) < 1e-9
