"""Hugging Face BERT (`BertModel`, `BertForPreTraining`, `BertForSequenceClassification`;
safetensors) <-> big_uni BERT: the text encoder, pooler, MLM head (its output projection tied
to the token embedding, as in BERT), NSP head and a classifier.

BERT is post-LN with exact GELU. The result is a numpy tree with the subtrees 'text' and
'pooler' and the heads the file has, to merge with `big_uni.pretrained`.
"""
import numpy as np

from big_uni.convert import files, layout

BLOCK = layout.BlockKeys(
    qkv=('attention.self.query.{}', 'attention.self.key.{}', 'attention.self.value.{}'),
    out='attention.output.dense.{}', norm1='attention.output.LayerNorm.{}',
    norm2='output.LayerNorm.{}', fc1='intermediate.dense.{}', fc2='output.dense.{}')
# Tied to the word embeddings (checked on import, not written on export) or buffers.
TIED = ('cls.predictions.decoder.weight', 'cls.predictions.decoder.bias')
BUFFERS = ('embeddings.position_ids',)


def keys(prefix: str) -> layout.TextKeys:
  """prefix: 'bert.' in files of models with heads, '' in BertModel ones."""
  p = prefix
  return layout.TextKeys(
      token=f'{p}embeddings.word_embeddings.weight',
      position=f'{p}embeddings.position_embeddings.weight',
      segment=f'{p}embeddings.token_type_embeddings.weight',
      embed_norm=f'{p}embeddings.LayerNorm.{{}}', blocks=f'{p}encoder.layer.{{i}}.', block=BLOCK)


def entries(text_encoder, prefix: str) -> list[layout.Entry]:
  """The table of a `text.TextEncoder` and every head big_uni's BERT models may have."""
  return [*layout.text(text_encoder, keys(prefix), 'text'),
          *layout.linear('pooler/dense', f'{prefix}pooler.dense.{{}}', optional=True),
          *layout.linear('mlm_dense', 'cls.predictions.transform.dense.{}', optional=True),
          *layout.norm('mlm_norm', 'cls.predictions.transform.LayerNorm.{}', optional=True),
          layout.Entry('mlm_bias', 'cls.predictions.bias', optional=True),
          *layout.linear('nsp_head', 'cls.seq_relationship.{}', optional=True),
          *layout.linear('head', 'classifier.{}', optional=True)]


def hf_config(text_encoder) -> dict:
  block = text_encoder.block
  if block.activation != 'gelu':
    raise layout.LayoutError("HF BERT uses exact GELU: set activation='gelu'")
  return {'hidden_size': text_encoder.width, 'num_hidden_layers': text_encoder.depth,
          'intermediate_size': block.mlp_dim, 'num_attention_heads': block.num_heads,
          'vocab_size': text_encoder.vocab_size,
          'max_position_embeddings': text_encoder.max_len,
          'type_vocab_size': text_encoder.type_vocab_size, 'hidden_act': 'gelu',
          'layer_norm_eps': block.layer_norm_eps}


def load(path: str, text_encoder) -> dict:
  """Params (the 'text' tree and the heads in the file) for the `text.TextEncoder` module."""
  state = files.read_state_dict(path)
  files.check_hf_config(files.read_hf_config(path), hf_config(text_encoder),
                        f'the HF BERT at {path}')
  decoder = state.get(TIED[0])
  prefix = 'bert.' if any(k.startswith('bert.') for k in state) else ''
  if decoder is not None and not np.array_equal(decoder, state[keys(prefix).token]):
    raise layout.LayoutError(f'{path}: the MLM decoder is not tied to the word embeddings, as '
                             'big_uni\'s BERT ties them')
  return layout.to_params(state, entries(text_encoder, prefix), ignore=TIED + BUFFERS,
                          source=f'the HF BERT at {path}')


def export(params: dict, text_encoder) -> tuple[dict, dict]:
  """(state dict, config.json) of BertForPreTraining (MLM + NSP heads),
  BertForSequenceClassification (a classifier head) or BertModel."""
  architecture = ('BertForPreTraining' if 'mlm_bias' in params else
                  'BertForSequenceClassification' if 'head' in params else 'BertModel')
  prefix = '' if architecture == 'BertModel' else 'bert.'
  state = layout.to_state_dict(params, entries(text_encoder, prefix), target=f'HF {architecture}')
  config = dict(hf_config(text_encoder), model_type='bert', architectures=[architecture],
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                tie_word_embeddings=True)
  if 'head' in params:
    classes = params['head']['kernel'].shape[1]
    config['id2label'] = {str(i): f'LABEL_{i}' for i in range(classes)}
    config['label2id'] = {f'LABEL_{i}': i for i in range(classes)}
  return state, config
