"""CLIP: OpenAI's parameter counts, the losses against numpy, the global batch, LiT freezing."""
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import errors, sharding, tasks, train
from big_uni.models import build_model
from big_uni.tasks import contrastive_losses
from configs import clip_b16, clip_l14, common_clip
from tests.helpers import script_json, synthetic_steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize('variant,expected', [('B/16', 149_620_737), ('L/14', 427_616_513)])
def test_openai_parameter_counts(variant, expected):
  model = build_model(common_clip.openai_model(variant))
  ids = jnp.zeros((1, 77), jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)), ids,
                          ids == 0)
  assert sum(x.size for x in jax.tree.leaves(nn.unbox(shapes))) == expected


def _log_softmax(x, axis):
  x = x - x.max(axis, keepdims=True)
  return x - np.log(np.exp(x).sum(axis, keepdims=True))


def _numpy_losses(image, text, scale, bias):
  logits = scale * image @ text.T
  diagonal = np.arange(len(image))
  softmax = -(_log_softmax(logits, 1)[diagonal, diagonal]
              + _log_softmax(logits, 0)[diagonal, diagonal]).mean() / 2
  signs = 2 * np.eye(len(image)) - 1
  sigmoid = np.log1p(np.exp(-signs * (logits + bias))).sum() / len(image)
  return softmax, sigmoid


def test_losses_match_numpy_and_ignore_padding_rows():
  rng = np.random.default_rng(0)
  image, text = (rng.standard_normal((6, 8)).astype(np.float32) for _ in range(2))
  softmax, sigmoid = _numpy_losses(image, text, 5.0, -2.0)
  assert float(contrastive_losses.contrastive_loss(image, text, 5.0, 0.0, 'softmax')) == pytest.approx(
      softmax, rel=1e-5)
  assert float(contrastive_losses.contrastive_loss(image, text, 5.0, -2.0, 'sigmoid')) == pytest.approx(
      sigmoid, rel=1e-5)
  # Two padding rows appended (valid=False): the loss is that of the 6 real pairs.
  padded_image = np.concatenate([image, rng.standard_normal((2, 8)).astype(np.float32)])
  padded_text = np.concatenate([text, rng.standard_normal((2, 8)).astype(np.float32)])
  valid = np.arange(8) < 6
  for kind, bias, expected in (('softmax', 0.0, softmax), ('sigmoid', -2.0, sigmoid)):
    loss = contrastive_losses.contrastive_loss(padded_image, padded_text, 5.0, bias, kind, valid)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_blocks_over_8_devices_equal_one_device():
  results = script_json.run('tests/helpers/scripts/contrastive_devices.py')
  for kind in ('softmax', 'sigmoid'):
    single = results[kind]['single']
    for mesh in ('data8', 'data2_fsdp4'):
      sharded = results[kind][mesh]
      assert sharded['loss'] == pytest.approx(single['loss'], abs=1e-6), (kind, mesh)
      assert sharded['hits'] == single['hits'], (kind, mesh)
      for got, want in zip(sharded['grads'], single['grads']):
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f'{kind} {mesh}')
  # Against numpy on the 29 valid rows; image 3's tied captions 3 and 5: the tie goes to 3.
  inputs = {k: np.asarray(v) for k, v in results['inputs'].items()}
  image, text = inputs['image'][inputs['valid']], inputs['text'][inputs['valid']]
  softmax, sigmoid = _numpy_losses(image, text, 10.0, -3.0)
  similarity = image @ text.T
  assert similarity[3, 3] == similarity[3, 5]
  hits = float((similarity.argmax(1) == np.arange(len(image))).sum())
  for kind, expected in (('softmax', softmax), ('sigmoid', sigmoid)):
    assert results[kind]['single']['loss'] == pytest.approx(expected, rel=1e-5)
    assert results[kind]['single']['hits'] == hits


def _smoke_config(**overrides):
  return synthetic_steps.smoke_config(clip_b16, **overrides)


def test_tiny_clip_learns_to_pair_a_batch():
  metrics = synthetic_steps.overfit(_smoke_config(total_steps=60), batch_size=16, warmup_steps=5)
  assert float(metrics[-1]['loss']) < 0.2 * float(metrics[0]['loss'])
  assert float(metrics[-1]['train_image_to_text_accuracy']) == 1.0


def test_locked_image_tower_does_not_move():
  config = _smoke_config(total_steps=3)
  config.model.lock_image = True
  config.optimizer.frozen = ('image/.*',)
  trainer = train.Trainer(config)
  state = trainer.init_state()
  before = jax.device_get(state.params)
  with trainer.context():
    batch = sharding.global_batch(trainer.task.synthetic_batch(np.random.default_rng(0), 16),
                                  trainer.mesh)
    for _ in range(3):
      state, _ = trainer.train_step(state, batch)
  after = jax.device_get(state.params)
  same = jax.tree.map(np.array_equal, before['image'], after['image'])
  assert all(jax.tree.leaves(same))
  assert not np.array_equal(before['image_projection']['kernel'],
                            after['image_projection']['kernel'])
  assert not np.array_equal(before['text_projection']['kernel'],
                            after['text_projection']['kernel'])


def _initial_logits(config):
  params = tasks.build_task(config).init_params(jax.random.key(0))
  return float(params['logit_scale']), (float(params['logit_bias'])
                                        if 'logit_bias' in params else None)


def test_siglip_gets_its_bias_and_init():
  for variant in (clip_b16, clip_l14):
    assert variant.get_config('siglip').contrastive_loss == 'sigmoid'
  config = clip_b16.get_config('smoke')
  assert _initial_logits(config) == pytest.approx((np.log(1 / 0.07), None))
  config.contrastive_loss = 'sigmoid'  # As --config.contrastive_loss=sigmoid does.
  assert _initial_logits(config) == pytest.approx((np.log(10), -10.0))
  config.model.logit_bias_init = -5.0
  assert _initial_logits(config) == pytest.approx((np.log(10), -5.0))
  config.contrastive_loss = 'softmax'
  with pytest.raises(errors.UserInputError, match='changes nothing'):
    tasks.build_task(config)


def test_logit_init_overrides_parse_on_the_command_line():
  out = subprocess.run(
      [sys.executable, '-m', 'big_uni.main', '--config=configs/clip_b16.py:smoke', '--mode=shapes',
       '--config.contrastive_loss=sigmoid', '--config.model.logit_bias_init=-5',
       '--config.model.logit_scale_init=2.5'], capture_output=True, text=True, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'logit_bias' in out.stdout


def test_logit_scale_is_clamped_as_a_param_and_keeps_its_gradient():
  config = _smoke_config(total_steps=1)
  config.model.logit_scale_init = float(np.log(100.0)) + 0.5  # Above OpenAI's limit.
  trainer = train.Trainer(config)
  state = trainer.init_state()
  batch = trainer.task.synthetic_batch(np.random.default_rng(0), 16)
  grads = jax.jit(jax.grad(lambda p: trainer.task.loss_and_metrics(p, batch, None)[0]))(
      state.params)
  assert abs(float(grads['logit_scale'])) > 1e-6  # A forward clamp would make it 0.
  with trainer.context():
    state, metrics = trainer.train_step(state, sharding.global_batch(batch, trainer.mesh))
  assert float(state.params['logit_scale']) == pytest.approx(np.log(100.0), abs=1e-7)
  assert float(metrics['logit_scale']) == pytest.approx(np.exp(np.log(100.0) + 0.5), rel=1e-5)
