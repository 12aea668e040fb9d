"""The encoder-decoder exports to HF MarianMTModel with the same logits, imports HF's own Marian
files back, and refuses what Marian cannot hold."""
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import pretrained
from big_uni.convert import files, hf_marian, layout
from big_uni.models import build_model, transformer
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

_VOCAB, _SOURCE, _TARGET = 100, 12, 9
_IDS = dict(pad_id=0, eos_id=2, start_id=1)


def _config(**fields):
  return ml_collections.ConfigDict(dict(
      name='encoder_decoder', variant='mini', width=32, depth=2, mlp_dim=64, num_heads=2,
      vocab_size=_VOCAB, dropout=0.0, **fields))


def _inputs():
  """Source ids [3, S], the last row padded after 5 tokens, its mask; target ids [3, T]."""
  rng = np.random.default_rng(0)
  mask = np.arange(_SOURCE) < np.array([[_SOURCE], [_SOURCE], [5]])
  source = np.where(mask, rng.integers(3, _VOCAB, (3, _SOURCE)), _IDS['pad_id'])
  return source, mask, rng.integers(3, _VOCAB, (3, _TARGET))


def _as_jax(*inputs):
  return tuple(jnp.asarray(x, bool if x.dtype == bool else jnp.int32) for x in inputs)


def _random_params(config):
  return helpers.random_params(build_model(config), *_as_jax(*_inputs()))


def _assert_logits_close(config, params, hf_model, what):
  source, mask, target = _inputs()
  ours = build_model(config).apply({'params': params}, *_as_jax(source, mask, target))
  with torch.no_grad():
    theirs = hf_model(input_ids=torch.tensor(source), attention_mask=torch.tensor(mask.astype(int)),
                      decoder_input_ids=torch.tensor(target)).logits.numpy()
  diff = helpers.max_diff(ours, theirs)
  print(f'{what}: max |logits diff| {diff:.2e}')
  assert diff < 1e-4


# The paper's ReLU here; the other activations (8 s each) in the slow call, which keeps a new
# activation failing until it is mapped.
@pytest.mark.parametrize('activation', [
    a if a == 'relu' else pytest.param(a, marks=pytest.mark.slow)
    for a in sorted(transformer.ACTIVATIONS)])
def test_export_round_trip_and_transformers_forward(tmp_path, activation):
  config = _config(activation=activation)
  params = _random_params(config)
  model = build_model(config)
  state, hf_config = hf_marian.export(params, model, **_IDS)
  assert not set(hf_marian.TIED) & set(state) and not state[hf_marian.LOGITS_BIAS].any()
  out = str(tmp_path / 'out')
  files.write_hf(out, state, hf_config)
  helpers.assert_trees_equal(hf_marian.load(out, model), params)
  hf_model = transformers.MarianMTModel.from_pretrained(
      out, attn_implementation='eager', dtype=torch.float32).eval()
  assert hf_model.config.activation_function == hf_marian.ACTIVATIONS[activation]
  assert hf_model.lm_head.weight.data_ptr() == hf_model.model.shared.weight.data_ptr()
  _assert_logits_close(config, params, hf_model, f'big_uni -> HF MarianMTModel ({activation})')


def _hf_marian(**fields):
  """A randomized transformers MarianMTModel of _config's sizes (its positions left as HF's)."""
  hf_config = transformers.MarianConfig(**dict(
      dict(vocab_size=_VOCAB, d_model=32, encoder_layers=2, decoder_layers=2,
           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
           decoder_ffn_dim=64, max_position_embeddings=64, activation_function='relu',
           scale_embedding=True, pad_token_id=0, eos_token_id=2, decoder_start_token_id=1,
           forced_eos_token_id=None, attn_implementation='eager'), **fields))
  hf_model = helpers.random_hf_model(transformers.MarianMTModel, hf_config)
  with torch.no_grad():
    for side in (hf_model.model.encoder, hf_model.model.decoder):
      side.embed_positions.weight.copy_(side.embed_positions.create_weight())
  return hf_model


def test_transformers_marian_imports(tmp_path):
  hf_model = _hf_marian()
  path = helpers.save_hf(hf_model, tmp_path / 'hf')
  config = _config()
  loaded = pretrained.load_source(
      ml_collections.ConfigDict(dict(kind='hf_marian', path=path)), config)
  params = helpers.load_into(build_model(config), _as_jax(*_inputs()), loaded)
  _assert_logits_close(config, params, hf_model, 'HF MarianMTModel -> big_uni')


def test_published_layout_with_tied_copies_and_positions_imports(tmp_path):
  """Files of Marian's converter (Helsinki-NLP's opus-mt) also hold the tied embeddings and
  the frozen position tables."""
  config = _config()
  params = _random_params(config)
  model = build_model(config)
  state, hf_config = hf_marian.export(params, model, **_IDS)
  state.update({key: state[hf_marian.SHARED] for key in hf_marian.TIED})
  positions = transformers.models.marian.modeling_marian.MarianSinusoidalPositionalEmbedding(
      64, 32).create_weight().numpy()
  state.update({key: positions for key in hf_marian.POSITIONS})
  files.write_hf(str(tmp_path / 'published'), state, hf_config)
  helpers.assert_trees_equal(hf_marian.load(str(tmp_path / 'published'), model), params)


def test_what_marian_cannot_hold_is_refused():
  params = _random_params(_config())
  for fields, message in [
      (dict(norm_first=True), 'HF Marian is post-LN: set model.norm_first=False'),
      (dict(layer_norm_eps=1e-6), r'eps 1e-05, fixed: set model.layer_norm_eps=1e-05 \(not 1e-06'),
  ]:
    with pytest.raises(layout.LayoutError, match=message):
      hf_marian.export(params, build_model(_config(**fields)), **_IDS)
  params['extra'] = np.zeros(3, np.float32)
  with pytest.raises(layout.LayoutError, match=r"MarianMTModel has no place for \['extra'"):
    hf_marian.export(params, build_model(_config()), **_IDS)


def test_a_file_big_uni_cannot_hold_is_refused(tmp_path):
  model = build_model(_config())
  hf_model = _hf_marian(activation_function='swish')
  with pytest.raises(layout.LayoutError, match='activation_function is swish there, relu here'):
    hf_marian.load(helpers.save_hf(hf_model, tmp_path / 'swish'), model)
  state, hf_config = hf_marian.export(_random_params(_config()), model, **_IDS)
  for key, value, message in [
      (hf_marian.LOGITS_BIAS, np.ones((1, _VOCAB), np.float32), 'final_logits_bias is not zero'),
      ('lm_head.weight', state[hf_marian.SHARED] + 1,
       'lm_head.weight is not tied to model.shared.weight')]:
    files.write_hf(str(tmp_path / key), {**state, key: value}, hf_config)
    with pytest.raises(layout.LayoutError, match=message):
      hf_marian.load(str(tmp_path / key), model)
