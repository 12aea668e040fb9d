"""The causal LM exports to HF GPT2LMHeadModel with the same logits, imports HF's own GPT-2 files
back, and refuses what GPT-2 cannot hold."""
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from big_uni import export, pretrained
from big_uni.convert import files, hf_gpt2, layout
from big_uni.models import build_model, causal_lm
from tests.helpers import import_or_skip
from tests.helpers import convert as helpers

torch = import_or_skip('torch')
transformers = import_or_skip('transformers')

_VOCAB, _LEN = 100, 16


def _config(activation='gelu_tanh'):
  return ml_collections.ConfigDict(dict(
      name='causal_lm', variant='mini', width=32, depth=2, mlp_dim=64, num_heads=2,
      vocab_size=_VOCAB, max_len=_LEN, dropout=0.0, activation=activation))


def _ids():
  return np.random.default_rng(0).integers(0, _VOCAB, (3, _LEN))


def _assert_logits_close(config, params, hf_model, what):
  ids = _ids()
  ours = build_model(config).apply({'params': params}, jnp.asarray(ids, jnp.int32))
  with torch.no_grad():
    theirs = hf_model(input_ids=torch.tensor(ids)).logits.numpy()
  diff = helpers.max_diff(ours, theirs)
  print(f'{what}: max |logits diff| {diff:.2e}')
  assert diff < 1e-4


@pytest.mark.parametrize('activation', list(hf_gpt2.ACTIVATIONS))
def test_export_round_trip_and_transformers_forward(tmp_path, activation):
  config = _config(activation)
  params = helpers.random_params(build_model(config), jnp.asarray(_ids(), jnp.int32))
  state, hf_config = export.export_params(params, ml_collections.ConfigDict({'model': config}))
  assert state['transformer.h.0.attn.c_attn.weight'].shape == (32, 96)  # Conv1D [in, 3 out]
  assert hf_gpt2.TIED not in state
  out = str(tmp_path / 'out')
  files.write_hf(out, state, hf_config)
  helpers.assert_trees_equal(hf_gpt2.load(out, causal_lm.build(config).text), params)
  hf_model = transformers.GPT2LMHeadModel.from_pretrained(
      out, attn_implementation='eager', dtype=torch.float32).eval()
  assert hf_model.config.activation_function == hf_gpt2.ACTIVATIONS[activation]
  assert hf_model.lm_head.weight.data_ptr() == hf_model.transformer.wte.weight.data_ptr()
  _assert_logits_close(config, params, hf_model, f'big_uni -> HF GPT2LMHeadModel ({activation})')


def test_transformers_gpt2_imports(tmp_path):
  hf_config = transformers.GPT2Config(
      vocab_size=_VOCAB, n_positions=_LEN, n_embd=32, n_layer=2, n_head=2, n_inner=None,
      bos_token_id=None, eos_token_id=None, attn_implementation='eager')
  hf_model = helpers.random_hf_model(transformers.GPT2LMHeadModel, hf_config)
  path = helpers.save_hf(hf_model, tmp_path / 'hf')
  config = _config()
  config.mlp_dim = 128  # n_inner None: GPT-2's 4 n_embd.
  loaded = pretrained.load_source(ml_collections.ConfigDict(dict(kind='hf_gpt2', path=path)),
                                  config)
  params = helpers.load_into(build_model(config), [jnp.asarray(_ids(), jnp.int32)], loaded)
  _assert_logits_close(config, params, hf_model, 'HF GPT2LMHeadModel -> big_uni')


def test_openai_layout_with_buffers_imports_and_an_untied_head_is_refused(tmp_path):
  """OpenAI's gpt2 file: GPT2Model keys (no 'transformer.'), each block's causal-mask buffers."""
  config = _config()
  params = helpers.random_params(build_model(config), jnp.asarray(_ids(), jnp.int32))
  state, hf_config = export.export_params(params, ml_collections.ConfigDict({'model': config}))
  state = {k.removeprefix('transformer.'): v for k, v in state.items()}
  state.update({f'h.{i}.attn.bias': np.tril(np.ones((1, 1, _LEN, _LEN), np.float32))
                for i in range(2)})
  files.write_hf(str(tmp_path / 'openai'), state, hf_config)
  text_encoder = causal_lm.build(config).text
  helpers.assert_trees_equal(hf_gpt2.load(str(tmp_path / 'openai'), text_encoder), params)
  state[hf_gpt2.TIED] = state['wte.weight'] + 1
  files.write_hf(str(tmp_path / 'untied'), state, hf_config)
  with pytest.raises(layout.LayoutError, match='lm_head is not tied to wte'):
    hf_gpt2.load(str(tmp_path / 'untied'), text_encoder)


def test_what_gpt2_cannot_hold_is_refused():
  config = _config()
  params = helpers.random_params(build_model(config), jnp.asarray(_ids(), jnp.int32))
  with pytest.raises(layout.LayoutError, match="activation_function for activation='relu'"):
    export.export_params(params, ml_collections.ConfigDict({'model': _config('relu')}))
  params['text']['extra'] = np.zeros(3, np.float32)
  with pytest.raises(layout.LayoutError, match=r"GPT2LMHeadModel has no place for \['text/extra'"):
    export.export_params(params, ml_collections.ConfigDict({'model': _config()}))
