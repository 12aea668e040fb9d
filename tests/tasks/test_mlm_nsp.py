"""MLM + NSP eval sums over a batch padded with rows that hold no real token (the last eval batch)."""
import jax
import numpy as np

from big_uni import train
from configs import bert_austen


def test_padding_rows_without_tokens_leave_the_eval_loss_finite_and_unchanged():
  config = bert_austen.get_config('smoke')
  config.input.dataset = 'synthetic'
  trainer = train.Trainer(config, total_steps=1)
  task = trainer.task
  params = trainer.init_state().params
  batch = task.synthetic_batch(np.random.default_rng(0), 4)
  padded = {k: np.concatenate([v, np.zeros_like(v[:2])]) for k, v in batch.items()}
  padded['mask'] = np.array([True] * 4 + [False] * 2)
  real = jax.device_get(task.eval_sums(params, batch))
  with_padding = jax.device_get(task.eval_sums(params, padded))
  for name, (total, count) in with_padding.items():
    assert np.isfinite(total), name
    np.testing.assert_allclose(total, real[name][0], rtol=1e-5, err_msg=name)
    assert count == real[name][1]
