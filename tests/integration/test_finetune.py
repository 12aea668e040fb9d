"""configs/vit_finetune.py: the Pets and Flowers102 configs train from the real DINOv2 weights on
the real TFDS builders (prepared offline from generated images), at a new resolution."""
import json
import os

import numpy as np
import pytest

from big_uni import checkpoint, pretrained, train
from big_uni.models import vit
from configs import vit_finetune
from tests.helpers import generated_tfds

SPLITS = {'pets': {'train': 8, 'test': 6}, 'flowers102': {'train': 4, 'validation': 4, 'test': 6}}


# 30-36 s each, in the slow call (the README's suite keeps to 15 minutes); the resizing of
# position embeddings as weights load is tests/convert/test_resize.py's.
@pytest.mark.slow
@pytest.mark.parametrize('variant', sorted(SPLITS))
def test_transfer_config_trains_on_the_tfds_dataset(variant, tmp_path):
  config = vit_finetune.get_config(variant)
  generated_tfds.prepare(config.input.dataset, str(tmp_path / 'tfds'), SPLITS[variant])
  # 28 px: a 2x2 patch grid, so the 37x37 DINOv2 position embeddings are resized as they load.
  # 3 steps: the zero head passes no gradient back until it has had an update.
  config.update(dict(total_steps=3, log_every_steps=1, checkpoint_every_steps=3))
  config.optimizer.warmup_steps = 1
  config.input.update(dict(data_dir=str(tmp_path / 'tfds'), image_size=28, batch_size=4,
                           eval_batch_size=4))
  workdir = str(tmp_path / 'run')
  final = train.train_and_evaluate(config, workdir)
  assert 0.0 <= final['test_accuracy'] <= 1.0
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    assert [json.loads(line)['step'] for line in f][:3] == [1, 2, 3]

  trainer = train.Trainer(config, total_steps=3)
  fresh = trainer.init_state().params
  dinov2 = pretrained.load_source(config.init.backbone, config.model)
  np.testing.assert_allclose(
      fresh['pos_embedding'],
      vit.resize_pos_embedding(dinov2['pos_embedding'], 5, method='bicubic_torch'), atol=1e-6)
  np.testing.assert_array_equal(fresh['encoder']['block03']['mlp']['fc1']['kernel'],
                                dinov2['encoder']['block03']['mlp']['fc1']['kernel'])
  assert not np.asarray(fresh['head']['kernel']).any()  # A new, zero-initialised head.
  assert fresh['head']['kernel'].shape[-1] == config.model.num_classes
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), every_steps=1, keep=3)
  trained = ckpt.restore(trainer.abstract_state).params
  ckpt.close()
  assert not np.array_equal(trained['pos_embedding'], fresh['pos_embedding'])  # All of it trains.
