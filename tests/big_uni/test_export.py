"""`python -m big_uni.export` turns a trained run into files transformers opens with our outputs."""
import os

import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import export, models, pretrained, train
from configs import vit_b16
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')


def test_trained_vit_exports_to_transformers(tmp_path, capsys):
  config = vit_b16.get_config('smoke')
  config.model.scan_layers = True  # Exported unscanned, as HF stores blocks.
  workdir, out = str(tmp_path / 'run'), str(tmp_path / 'hf')
  train.train_and_evaluate(config, workdir)
  export.main(['--workdir', workdir, '--out', out])
  assert 'wrote ViTForImageClassification' in capsys.readouterr().out
  os.environ['HF_HUB_OFFLINE'] = '1'
  hf_model = transformers.ViTForImageClassification.from_pretrained(
      out, attn_implementation='eager').eval()
  params = pretrained.load_source(
      export.ml_collections.ConfigDict(dict(kind='checkpoint', path=workdir)), config.model)
  images = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype(np.float32)
  logits, _ = models.build_model(config.model).apply({'params': params}, jnp.asarray(images))
  with torch.no_grad():
    expected = hf_model(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2))).logits.numpy()
  assert helpers.max_diff(logits, expected) < 1e-4


def test_export_of_a_missing_run_is_one_line(tmp_path):
  with pytest.raises(SystemExit, match='config.json does not exist'):
    export.main(['--workdir', str(tmp_path / 'nothing'), '--out', str(tmp_path / 'hf')])
