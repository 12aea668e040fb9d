"""Where a CPU train step loses to PyTorch: big_uni's ops against torch's, one at a time.

  python benchmarks/cpu_ops.py                      # ViT-S/16 shapes at batch 8
  python benchmarks/cpu_ops.py --batch=8 --tokens=128 --width=768 --heads=12   # BERT-base

Each op is jitted alone (JAX) or run eagerly (torch, its default threads) on the same float32
arrays; the median of --repeats calls after a warm-up is printed in ms, with torch / JAX (above 1:
JAX is faster). The ops are the step's: the MLP matmuls, the attention's batched matmuls and
softmax (forward, and the transposed product of the backward pass), the attention core, GELU and
LayerNorm forward + backward. torch is a bench extra, as for `benchmarks.bench --peer`.
"""
import argparse
import json
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from big_uni.models import transformer


def _median_ms(call, repeats: int) -> float:
  call()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return 1e3 * statistics.median(times)


def _jax_ms(fn, args, repeats):
  compiled = jax.jit(fn)
  return _median_ms(lambda: jax.block_until_ready(compiled(*args)), repeats)


def _squared_sum_grad(fn, argnums):
  return jax.grad(lambda *a: jnp.sum(fn(*a) ** 2), argnums=argnums)


def measure(batch: int, tokens: int, width: int, heads: int, mlp_dim: int, repeats: int) -> list:
  """[(op, jax ms, torch ms)] at these shapes."""
  import torch  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  head_dim = width // heads

  def array(*shape):
    return rng.standard_normal(shape).astype(np.float32)

  x, hidden = array(batch * tokens, width), array(batch * tokens, mlp_dim)
  fc1, fc2 = array(width, mlp_dim), array(mlp_dim, width)
  q, k, v = (array(batch, heads, tokens, head_dim) for _ in range(3))
  weights = np.array(jax.nn.softmax(array(batch, heads, tokens, tokens), axis=-1))

  def core(q, k, v):
    return jnp.einsum('bnqk,bnkh->bnqh', transformer.attention_weights(q, k), v)

  norm = nn.LayerNorm(epsilon=1e-6)
  norm_params = norm.init(jax.random.PRNGKey(0), x)
  t = {name: torch.from_numpy(value) for name, value in dict(
      x=x, hidden=hidden, fc1=fc1, fc2=fc2, q=q, k=k, v=v, weights=weights).items()}
  tq, tk, tv = (t[n].clone().requires_grad_() for n in 'qkv')
  t_hidden, t_x = t['hidden'].clone().requires_grad_(), t['x'].clone().requires_grad_()
  t_norm = torch.nn.LayerNorm(width, eps=1e-6)

  def torch_backward(out):
    (out ** 2).sum().backward()

  def torch_core():
    scores = torch.softmax(tq @ tk.transpose(-1, -2) / head_dim ** 0.5, dim=-1)
    torch_backward(scores @ tv)

  ops = [
      ('MLP in, [BL,D]x[D,F]', (lambda a, b: a @ b, (x, fc1)), lambda: t['x'] @ t['fc1']),
      ('MLP out, [BL,F]x[F,D]', (lambda a, b: a @ b, (hidden, fc2)),
       lambda: t['hidden'] @ t['fc2']),
      ('attention QK^T', (lambda a, b: jnp.einsum('bnqh,bnkh->bnqk', a, b), (q, k)),
       lambda: t['q'] @ t['k'].transpose(-1, -2)),
      ('attention weights x V', (lambda w, b: jnp.einsum('bnqk,bnkh->bnqh', w, b), (weights, v)),
       lambda: t['weights'] @ t['v']),
      ('backward: weights^T x dOut', (lambda w, b: jnp.einsum('bnqk,bnqh->bnkh', w, b),
                                      (weights, q)),
       lambda: t['weights'].transpose(-1, -2) @ t['q']),
      ('softmax', (lambda w: jax.nn.softmax(w, axis=-1), (weights,)),
       lambda: torch.softmax(t['weights'], dim=-1)),
      ('attention core fwd+bwd', (_squared_sum_grad(core, (0, 1, 2)), (q, k, v)), torch_core),
      ('GELU fwd+bwd', (_squared_sum_grad(transformer.gelu_erf, 0), (hidden,)),
       lambda: torch_backward(torch.nn.functional.gelu(t_hidden))),
      ('LayerNorm fwd+bwd', (_squared_sum_grad(norm.apply, (0, 1)), (norm_params, x)),
       lambda: torch_backward(t_norm(t_x))),
  ]
  return [(name, _jax_ms(fn, args, repeats), _median_ms(torch_call, repeats))
          for name, (fn, args), torch_call in ops]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--tokens', type=int, default=197)
  parser.add_argument('--width', type=int, default=384)
  parser.add_argument('--heads', type=int, default=6)
  parser.add_argument('--mlp_dim', type=int, default=0, help='0: 4 x width')
  parser.add_argument('--repeats', type=int, default=20)
  args = parser.parse_args()
  rows = measure(args.batch, args.tokens, args.width, args.heads, args.mlp_dim or 4 * args.width,
                 args.repeats)
  print(f'{jax.devices()[0].device_kind}, float32, batch {args.batch}, {args.tokens} tokens, '
        f'width {args.width}, {args.heads} heads')
  print(f'{"op":30s} {"JAX ms":>8s} {"torch ms":>9s} {"torch/JAX":>9s}')
  for name, jax_ms, torch_ms in rows:
    print(f'{name:30s} {jax_ms:8.2f} {torch_ms:9.2f} {torch_ms / jax_ms:9.2f}')
  print(json.dumps({name: {'jax_ms': j, 'torch_ms': t} for name, j, t in rows}))


if __name__ == '__main__':
  main()
