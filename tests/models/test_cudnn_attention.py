"""cuDNN's fused attention (the GPU default in bf16) against the XLA einsums on the same params:
padding given as lengths, causal, and gradients. Runs on NVIDIA GPUs only (benchmarks/gpu.sh)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from big_uni.models import transformer

pytestmark = pytest.mark.skipif(
    jax.devices()[0].platform != 'gpu', reason='cuDNN attention needs an NVIDIA GPU')


@pytest.mark.parametrize('causal', [False, True])
def test_cudnn_attention_equals_xla_in_bfloat16(causal):
  x = jax.random.normal(jax.random.key(0), (4, 77, 512))
  # Right-padded rows, as every big_uni pipeline makes them.
  mask = jnp.arange(77)[None] < jnp.array([77, 40, 9, 1])[:, None]
  modules = {impl: transformer.MultiHeadAttention(8, jnp.bfloat16, impl)
             for impl in ('xla', 'cudnn')}
  params = modules['xla'].init(jax.random.key(1), x, mask, causal)

  def loss(impl):
    def f(p):
      out = modules[impl].apply(p, x, mask, causal).astype(jnp.float32)
      return (out * mask[..., None]).sum() / mask.sum(), out
    return jax.value_and_grad(f, has_aux=True)

  (loss_xla, out_xla), grads_xla = jax.jit(loss('xla'))(params)
  (loss_cudnn, out_cudnn), grads_cudnn = jax.jit(loss('cudnn'))(params)
  real = np.asarray(mask)
  # bf16 activations: the two differ in rounding only (about 2^-8 relative).
  np.testing.assert_allclose(np.asarray(out_cudnn)[real], np.asarray(out_xla)[real],
                             atol=3e-2, rtol=3e-2)
  np.testing.assert_allclose(loss_cudnn, loss_xla, rtol=1e-2)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=3e-2, rtol=5e-2),
               grads_cudnn, grads_xla)


def test_auto_chooses_cudnn_for_bfloat16_and_xla_for_float32():
  assert transformer.choose_attention(None, jnp.bfloat16, 64) == 'cudnn'
  assert transformer.choose_attention(None, jnp.float32, 64) == 'xla'
  assert transformer.choose_attention(None, jnp.bfloat16, 12) == 'xla'
