"""Learning-rate schedules: the Transformer paper's warmup and inverse square root."""
import ml_collections
import numpy as np
import pytest

from big_uni import optim

_D_MODEL, _WARMUP = 512, 4000


def _paper_lr(step):
  """Vaswani et al. (2017), eq. 3: d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)."""
  return _D_MODEL ** -0.5 * min(step ** -0.5, step * _WARMUP ** -1.5)


def _schedule(warmup_steps=_WARMUP):
  return optim.learning_rate_schedule(ml_collections.ConfigDict(dict(
      name='adamw', lr=(_D_MODEL * _WARMUP) ** -0.5, decay='inverse_sqrt',
      warmup_steps=warmup_steps)), total_steps=100_000)


def test_inverse_sqrt_is_the_transformer_papers_schedule():
  schedule = _schedule()
  assert float(schedule(_WARMUP)) == pytest.approx(6.9877e-4, rel=1e-4)  # The peak.
  assert float(schedule(0)) == 0.0
  for step in (1, 100, 2000, 3999, 4000, 4001, 16_000, 100_000, 10**6):
    # float32: optax's warmup, peak * (1 - (1 - step / warmup)), loses digits at small steps.
    np.testing.assert_allclose(float(schedule(step)), _paper_lr(step), rtol=3e-4, err_msg=step)
  assert float(schedule(4 * _WARMUP)) == pytest.approx(float(schedule(_WARMUP)) / 2, rel=1e-6)


def test_inverse_sqrt_needs_a_warmup():
  with pytest.raises(ValueError, match="decay='inverse_sqrt' needs warmup_steps"):
    _schedule(warmup_steps=0)
