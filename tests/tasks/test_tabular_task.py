"""The tabular tasks: a tiny FT-Transformer overfits one batch of each objective."""
import pytest

from configs import ft_transformer
from tests.helpers import synthetic_steps


@pytest.mark.parametrize('data', ['fair_affairs', 'diabetes'])
def test_a_tiny_ft_transformer_overfits_a_batch(data):
  """Random labels of 16 rows (classes of fair_affairs' shape, standard normal targets of
  diabetes') learned by heart: the loss ends at a tenth of its start."""
  config = ft_transformer.get_config(f'{data},smoke')
  config.update(dict(total_steps=80))
  config.input.dataset = 'synthetic'
  config.model.update(dict(attention_dropout=0.0, mlp_dropout=0.0))
  metrics = synthetic_steps.overfit(config, batch_size=16)
  assert metrics[-1]['loss'] < 0.1 * metrics[0]['loss']
