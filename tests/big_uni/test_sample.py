"""`--mode=sample` (big_uni/sample.py) on a causal LM trained for 2 steps: greedy is the argmax
of uncached forwards, a seed fixes the draws, top-k and top-p hold, bad requests are refused."""
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import errors, models, pretrained, sample, train
from configs import lm_austen, vit_b16

PROMPT = 'The for statement'  # Text of the smoke config's corpus, Python's help topics.


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """(config, workdir) of the smoke LM after 2 steps."""
  config = lm_austen.get_config('smoke')
  config.total_steps = 2
  config.evals = {}  # A checkpoint is all sampling needs.
  workdir = str(tmp_path_factory.mktemp('lm'))
  train.train_and_evaluate(config, workdir)
  return config, workdir


def _draw(run, **options):
  options = dict(dict(num_tokens=6, num_samples=3, temperature=1.0, seed=0), **options)
  return sample.sample(*run, PROMPT, **options)


def _uncached_logits(run, ids):
  """Next-token logits float32 [N, P + T, V] of the whole rows, without a cache."""
  config, workdir = run
  params = pretrained.load_source(
      ml_collections.ConfigDict(dict(kind='checkpoint', path=workdir)), config.model)
  return np.asarray(models.build_model(config.model).apply({'params': params},
                                                           jnp.asarray(ids)))


# These train a smoke LM first (15 s) and sample from its run: the slow call. The README's suite
# checks the same decoding functions in tests/big_uni/test_decoding.py, and the refusal below.
SLOW = pytest.mark.slow


@SLOW
def test_greedy_is_the_argmax_of_uncached_forwards(run):
  ids, texts = _draw(run, temperature=0.0)
  prompt_len = ids.shape[1] - 6
  logits = _uncached_logits(run, ids)
  np.testing.assert_array_equal(ids[:, prompt_len:], logits[:, prompt_len - 1:-1].argmax(-1))
  assert texts[0].startswith(PROMPT) and len(set(texts)) == 1


@SLOW
def test_a_seed_fixes_the_samples(run):
  _, texts = _draw(run)
  assert _draw(run)[1] == texts
  assert _draw(run, seed=1)[1] != texts


@SLOW
def test_top_k_and_top_p_keep_only_the_likeliest(run):
  greedy, _ = _draw(run, temperature=0.0)
  for options in (dict(top_k=1), dict(top_p=1e-6)):  # Nothing but the most likely token.
    np.testing.assert_array_equal(_draw(run, temperature=2.0, **options)[0], greedy)
  ids, _ = _draw(run, top_k=3, temperature=5.0)
  prompt_len = ids.shape[1] - 6
  top3 = np.argsort(_uncached_logits(run, ids)[:, prompt_len - 1:-1], axis=-1)[..., -3:]
  assert (top3 == ids[:, prompt_len:, None]).any(-1).all()


@SLOW
def test_a_request_beyond_max_len_is_refused(run):
  with pytest.raises(errors.UserInputError, match=r'--num_tokens=30 need \d+ positions; '
                                                  r'model.max_len=32'):
    _draw(run, num_tokens=30)


def test_a_model_that_cannot_sample_is_refused(tmp_path):
  with pytest.raises(errors.UserInputError, match=r"model.name='vit' cannot sample.*causal_lm"):
    sample.sample(vit_b16.get_config('smoke'), str(tmp_path), PROMPT, num_tokens=4)
