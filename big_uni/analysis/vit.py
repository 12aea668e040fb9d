"""What a ViT attends to and what its embeddings learned, as numpy arrays for the notebooks.

Attention maps, attention rollout (Abnar & Zuidema 2020), class-specific relevance (Chefer et al.
2021, "Generic Attention-model Explainability"), and the three panels of the ViT paper's Fig. 7:
patch-embedding filters, position-embedding similarity, mean attention distance.

Shapes: L layers, B images, N heads, T tokens (P = g*g patches after `num_prefix` prefix tokens,
[CLS] in a 'cls'-pooled big_uni ViT), g the side of the patch grid, p the patch size in pixels,
C image channels, D width. Patches are numbered row by row (patch i*g + j is grid cell (i, j)).
`model` is a `big_uni.models.vit.ViT`, `params` its 'params' tree, scanned or not: the functions
run an unscanned copy on the XLA attention path (the fused cuDNN kernel has no weights to show).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from big_uni.models import transformer


def prefix_tokens(model) -> int:
  """Tokens before the patch grid: 1 ([CLS]) for pool='cls', 0 for pool='gap'."""
  return int(model.pool == 'cls')


def _for_analysis(model, params):
  """(an unscanned, un-rematted copy of `model` with XLA attention, `params` in its layout)."""
  return (model.clone(scan_layers=False, remat_policy='none', attention_impl='xla'),
          transformer.unstack_layers(params))


def _per_layer(tree, leaf=lambda x: x) -> np.ndarray:
  """The 'attention_weights' entries of every encoder block, stacked: [L, ...] float32."""
  stacked = transformer.stack_layers(tree['encoder'])['layers']['attention']['attention_weights']
  return np.asarray(leaf(stacked), np.float32)


def attention_maps(model, params, images) -> np.ndarray:
  """images [B, H, W, C] -> attention weights [L, B, N, T, T] float32 (rows: queries, sum 1)."""
  model, params = _for_analysis(model, params)
  _, state = model.apply({'params': params}, images, mutable=['intermediates'])
  return _per_layer(state['intermediates'], lambda sown: sown[0])


def attention_rollout(maps) -> np.ndarray:
  """[L, B, N, T, T] -> [B, T, T] (Abnar & Zuidema 2020): per layer the heads' mean A, the
  residual mixed in as 0.5*A + 0.5*I, rows renormalised; multiplied through the layers."""
  maps = np.asarray(maps, np.float64).mean(2)
  eye = np.eye(maps.shape[-1])
  rollout = np.broadcast_to(eye, maps.shape[1:])
  for layer in maps:
    mixed = 0.5 * layer + 0.5 * eye
    rollout = mixed / mixed.sum(-1, keepdims=True) @ rollout
  return rollout.astype(np.float32)


def received_attention(maps, num_prefix: int) -> np.ndarray:
  """[..., T, T] -> [..., g, g]: the [CLS] row's weights on the patches (num_prefix > 0), or with
  no prefix (global average pooling) the mean over all query rows: what each patch receives."""
  maps = np.asarray(maps)
  rows = maps[..., 0, num_prefix:] if num_prefix else maps.mean(-2)
  grid = _grid_side(rows.shape[-1])
  return rows.reshape(*rows.shape[:-1], grid, grid)


def relevance(model, params, images, target=None) -> np.ndarray:
  """images [B, H, W, C] -> class-specific relevance [B, g, g], >= 0, each map's max 1 (all 0
  where nothing is relevant), after Chefer et al. 2021: per layer Abar = mean over heads of
  max(0, dY/dA * A), with Y the `target` class logit (int or [B]; default: the predicted class)
  and A the attention weights; R = I, then R <- R + Abar @ R through the layers. The map is
  R - I (what attention adds; the identity is each token's own skip path) on the patches: the
  [CLS] row for pool='cls', the mean of the patch rows for pool='gap'. dY/dA is the gradient of
  zero 'perturbations' the attention layers add to their weights (MultiHeadAttention)."""
  model, params = _for_analysis(model, params)
  (logits, _), state = model.apply({'params': params}, images, mutable=['perturbations'])
  if logits is None:
    raise ValueError('relevance needs a model with a classification head (num_classes > 0)')
  target = (jnp.argmax(logits, -1) if target is None
            else jnp.broadcast_to(jnp.asarray(target, jnp.int32), logits.shape[:1]))

  def target_logit(perturbations):  # Summed over the batch: each image's own gradient.
    (logits, _), state = model.apply({'params': params, 'perturbations': perturbations}, images,
                                     mutable=['intermediates'])
    return jnp.take_along_axis(logits, target[:, None], 1).sum(), state['intermediates']

  gradients, intermediates = jax.grad(target_logit, has_aux=True)(state['perturbations'])
  weights = _per_layer(intermediates, lambda sown: sown[0]).astype(np.float64)
  abar = np.maximum(_per_layer(gradients) * weights, 0).mean(2)  # [L, B, T, T]
  eye = np.eye(weights.shape[-1])
  r = np.broadcast_to(eye, abar.shape[1:])
  for layer in abar:
    r = r + layer @ r
  prefix = prefix_tokens(model)
  maps = received_attention(r - eye, prefix)
  peak = maps.max((1, 2), keepdims=True)
  return np.where(peak > 0, maps / np.where(peak > 0, peak, 1), 0).astype(np.float32)


def position_similarity(pos_embedding, num_prefix: int) -> np.ndarray:
  """Position embeddings [1, T, D] or [T, D] -> [g, g, g, g] cosine similarities: [i, j] is the
  map of patch (i, j)'s similarity with every patch (ViT paper Fig. 7 centre)."""
  pos = np.asarray(pos_embedding, np.float64)
  pos = pos.reshape(-1, pos.shape[-1])[num_prefix:]
  grid = _grid_side(len(pos))
  pos = pos / np.maximum(np.linalg.norm(pos, axis=-1, keepdims=True), 1e-12)
  return (pos @ pos.T).reshape(grid, grid, grid, grid).astype(np.float32)


def patch_distances(grid: int, patch_size: int) -> np.ndarray:
  """[P, P] distances in pixels between the centres of the patches of a g x g grid."""
  cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing='ij'), -1)
  centres = cells.reshape(-1, 2) * patch_size
  return np.linalg.norm(centres[:, None] - centres[None], axis=-1)


def mean_attention_distance(maps, patch_size: int, num_prefix: int) -> np.ndarray:
  """[L, B, N, T, T] -> [L, N] in pixels (ViT paper Fig. 7 right): for each query patch the
  attention-weighted mean distance between its centre and the key patches' centres, averaged
  over query patches and images. Prefix tokens are neither queries nor keys: each query's
  weights over the patches are renormalised to sum 1."""
  maps = np.asarray(maps, np.float32)[..., num_prefix:, num_prefix:]
  distances = patch_distances(_grid_side(maps.shape[-1]), patch_size)
  weighted = np.einsum('lbnqk,qk->lbnq', maps, distances, dtype=np.float64)
  totals = maps.sum(-1, dtype=np.float64)
  return (weighted / np.maximum(totals, 1e-30)).mean((1, 3))


def patch_filters(kernel, components: int | None = 28) -> np.ndarray:
  """The patch embedding's Conv kernel [p, p, C, D] -> images [K, p, p, C], each scaled to
  [0, 1] on its own (min -> 0, max -> 1). components=k: the first k principal components of
  the D filters (centred over the filters, as the ViT paper's Fig. 7 left; K = min(k, D,
  p*p*C); a component's sign is arbitrary); components=None: the D raw filters."""
  kernel = np.asarray(kernel, np.float64)
  height, width, channels, count = kernel.shape
  filters = kernel.transpose(3, 0, 1, 2).reshape(count, -1)  # [D, p*p*C]
  if components is not None:
    _, _, basis = np.linalg.svd(filters - filters.mean(0), full_matrices=False)
    filters = basis[:components]
  filters = filters.reshape(-1, height, width, channels)
  low = filters.min((1, 2, 3), keepdims=True)
  span = filters.max((1, 2, 3), keepdims=True) - low
  return ((filters - low) / np.where(span > 0, span, 1)).astype(np.float32)


def _grid_side(num_patches: int) -> int:
  grid = math.isqrt(num_patches)
  if grid * grid != num_patches:
    raise ValueError(f'{num_patches} patch tokens are not a square grid: check the number of '
                     'prefix tokens ([CLS]: 1 for pool="cls", 0 for "gap")')
  return grid
