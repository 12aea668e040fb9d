"""timm `vit_*` VisionTransformer state dicts (safetensors, or .pth through
`torch.load(weights_only=True)`) -> big_uni ViT.

timm's layout (that of HF's convert_vit_timm_to_pytorch.py): fused qkv [3D, D], `norm` after the
last block, `head` on the [CLS] token; DINOv2-style models add `ls1`/`ls2.gamma` layer scales.
Only [CLS]-pooled models map exactly: timm's average-pooled ones normalise after pooling
(`fc_norm`), big_uni's GAP before it.
"""
from big_uni.convert import files, layout

BLOCK = layout.BlockKeys(qkv='attn.qkv.{}', out='attn.proj.{}', norm1='norm1.{}',
                         norm2='norm2.{}', fc1='mlp.fc1.{}', fc2='mlp.fc2.{}',
                         layer_scale=('ls1.gamma', 'ls2.gamma'))
KEYS = layout.ViTKeys(patch='patch_embed.proj.{}', cls='cls_token', pos='pos_embed',
                      blocks='blocks.{i}.', block=BLOCK, final_norm='norm.{}', head='head.{}')


def load(path: str, model) -> dict:
  """Params of the `vit.ViT` module `model` from a timm ViT state dict."""
  state = files.read_state_dict(path)
  if 'fc_norm.weight' in state:
    raise layout.LayoutError(f'{path} is an average-pooled timm ViT (fc_norm after pooling), '
                             'which big_uni\'s GAP (norm before pooling) cannot reproduce')
  return layout.to_params(state, layout.vit(model, KEYS), source=f'the timm ViT at {path}')
