"""Hugging Face ViT (`ViTModel`, `ViTForImageClassification`) <-> big_uni ViT.

HF's ViT is the paper's: pre-LN, [CLS] pooling, learned position embeddings for [CLS] + patches,
exact GELU; its LayerNorm epsilon is 1e-12 in the google/vit-* configs (set
model.layer_norm_eps to match). ViTModel's tanh pooler has no counterpart here and is left out.
"""
import math

from big_uni.convert import files, layout

BLOCK = layout.BlockKeys(
    qkv=('attention.attention.query.{}', 'attention.attention.key.{}',
         'attention.attention.value.{}'),
    out='attention.output.dense.{}', norm1='layernorm_before.{}', norm2='layernorm_after.{}',
    fc1='intermediate.dense.{}', fc2='output.dense.{}')
ACTIVATIONS = {'gelu': 'gelu', 'quick_gelu': 'quick_gelu', 'gelu_tanh': 'gelu_pytorch_tanh'}


def keys(prefix: str) -> layout.ViTKeys:
  """prefix: 'vit.' in ViTForImageClassification files, '' in ViTModel ones."""
  return layout.ViTKeys(
      patch=f'{prefix}embeddings.patch_embeddings.projection.{{}}',
      cls=f'{prefix}embeddings.cls_token', pos=f'{prefix}embeddings.position_embeddings',
      blocks=f'{prefix}encoder.layer.{{i}}.', block=BLOCK, final_norm=f'{prefix}layernorm.{{}}',
      head='classifier.{}')


def hf_config(model) -> dict:
  """The fields of HF's ViTConfig that describe `model` (a vit.ViT)."""
  if model.activation not in ACTIVATIONS:
    raise layout.LayoutError(f'HF ViT has no activation {model.activation!r}')
  return dict(hidden_size=model.width, num_hidden_layers=model.depth,
              num_attention_heads=model.num_heads, intermediate_size=model.mlp_dim,
              patch_size=model.patch_size, hidden_act=ACTIVATIONS[model.activation],
              layer_norm_eps=model.layer_norm_eps, qkv_bias=True)


def load(path: str, model) -> dict:
  """Params of the `vit.ViT` module `model` from an HF ViT file or folder."""
  state = files.read_state_dict(path)
  files.check_hf_config(files.read_hf_config(path), hf_config(model), f'the HF ViT at {path}')
  prefix = 'vit.' if any(k.startswith('vit.') for k in state) else ''
  pooler = [k for k in state if k.startswith(f'{prefix}pooler.')]
  return layout.to_params(state, layout.vit(model, keys(prefix)), ignore=pooler,
                          source=f'the HF ViT at {path}')


def export(params: dict, model) -> tuple[dict, dict]:
  """(state dict, config.json) of `ViTForImageClassification`, or of `ViTModel` for a model
  without a head."""
  with_head = 'head' in params
  state = layout.to_state_dict(params, layout.vit(model, keys('vit.' if with_head else '')),
                               target='HF ViT')
  patches = params['pos_embedding'].shape[1] - 1
  config = dict(hf_config(model), model_type='vit',
                architectures=['ViTForImageClassification' if with_head else 'ViTModel'],
                image_size=math.isqrt(patches) * model.patch_size,
                num_channels=params['patch_embed']['kernel'].shape[2],
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                encoder_stride=model.patch_size)
  if with_head:
    classes = params['head']['kernel'].shape[1]
    config['id2label'] = {str(i): f'LABEL_{i}' for i in range(classes)}
    config['label2id'] = {f'LABEL_{i}': i for i in range(classes)}
  return state, config
