"""Array helpers that tasks, evaluators and analysis share, each written once. They take numpy
arrays or jax arrays (and tracers, inside jit)."""
import jax
import jax.numpy as jnp
import numpy as np


def l2_normalize(x, eps: float = 1e-12):
  """Rows (the last axis) scaled to unit length, x / max(|x|, eps): all-zero rows stay zero.
  numpy in, numpy out (computed on the host as numpy computes it); anything else through jax.

  The evaluators' normalisation. CLIP's towers keep their own (models/clip.py), smooth at zero
  for the gradient, which its training was measured with."""
  xp = np if isinstance(x, np.ndarray) else jnp
  return x / xp.maximum(xp.linalg.norm(x, axis=-1, keepdims=True), eps)


def top_k_hits(logits, labels, k: int = 5):
  """bool jax.Array [N]: whether labels [N] is among the k (at most the number of classes)
  highest of logits [N, classes]; of equal logits the lower class counts first, as a stable
  argsort does."""
  top = jax.lax.top_k(logits, min(k, logits.shape[-1]))[1]
  return (top == labels[:, None]).any(-1)
