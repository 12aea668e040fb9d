"""Contrastive losses of a global batch, computed in per-device blocks of its similarity matrix.

The image and text embeddings [B, E] are sharded by rows over the mesh's batch axes (n devices of
b = B / n rows each). No device ever holds the [B, B] logits:
- softmax (CLIP's InfoNCE): each device gathers the other tower's embeddings [B, E] and scores
  its own b rows against all B, once per direction: [b, B] logits.
- sigmoid (SigLIP): a ring. Each device keeps its b images and passes its block of b captions on
  to the next device, n times: [b, b] logits at a time, and only [b, E] captions in flight.
Both give the loss of the whole [B, B] matrix whatever n is (one device is the n = 1 case).
"""
import functools

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec

from big_uni import sharding

LOSSES = ('softmax', 'sigmoid')


def contrastive_sums(image_embed, text_embed, scale, bias, kind: str, valid=None):
  """-> (loss sum, image->text top-1 hits, valid rows) over the global batch; the mean loss is
  loss sum / valid rows. Pairs (i, i) are the positives.

  image_embed, text_embed: float [B, E]; scale, bias: scalars (the logits are
  scale * image . text + bias); valid: bool [B], False on padding rows, which take no part.
  """
  if kind not in LOSSES:
    raise ValueError(f'contrastive loss {kind!r}: use one of {LOSSES}')
  valid = jnp.ones(image_embed.shape[0], bool) if valid is None else valid
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:  # Outside a mesh context (e.g. plain arrays in a test): one block.
    mesh = sharding.one_device_mesh()
  axes = sharding.batch_axes(mesh)
  rows, scalar = PartitionSpec(axes), PartitionSpec()
  block = _softmax_block if kind == 'softmax' else _sigmoid_ring
  sums = jax.shard_map(functools.partial(block, axes=axes), mesh=mesh,
                       in_specs=(rows, rows, scalar, scalar, rows), out_specs=scalar)(
                           image_embed, text_embed, jnp.asarray(scale, jnp.float32),
                           jnp.asarray(bias, jnp.float32), valid)
  return sums


def contrastive_loss(image_embed, text_embed, scale, bias, kind: str, valid=None):
  """The mean loss over the valid rows (arguments as in `contrastive_sums`)."""
  loss_sum, _, count = contrastive_sums(image_embed, text_embed, scale, bias, kind, valid)
  return loss_sum / jnp.maximum(count, 1.0)


def _softmax_block(image, text, scale, bias, valid, axes):
  """This device's b rows: image [b, E], text [b, E], valid [b] -> psummed (loss, hits, count)."""
  all_image, all_text, all_valid = (jax.lax.all_gather(x, axes, tiled=True)
                                    for x in (image, text, valid))
  labels = jax.lax.axis_index(axes) * image.shape[0] + jnp.arange(image.shape[0])

  def cross_entropy(queries, keys):  # [b, E] x [B, E] -> per-query loss [b], logits [b, B]
    logits = scale * jnp.einsum('qe,ke->qk', queries, keys) + bias
    logits = jnp.where(all_valid[None, :], logits, -1e9)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels), logits

  image_to_text, logits = cross_entropy(image, all_text)
  text_to_image, _ = cross_entropy(text, all_image)
  hits = valid & (logits.argmax(-1) == labels)
  local = (jnp.where(valid, image_to_text + text_to_image, 0.0).sum() / 2,
           hits.sum().astype(jnp.float32), valid.sum().astype(jnp.float32))
  return jax.lax.psum(local, axes)


def _sigmoid_ring(image, text, scale, bias, valid, axes):
  """SigLIP's loss of this device's b images against all B captions, the captions arriving one
  device's block at a time; -> psummed (loss, hits, count)."""
  devices = jax.lax.psum(1, axes)
  me = jax.lax.axis_index(axes)
  ring = [(i, (i + 1) % devices) for i in range(devices)]
  rows = image.shape[0]

  # Remat: backward keeps each step's [b, E] captions, not its [b, b] logits.
  @jax.checkpoint
  def step(carry, hop):
    loss, best, best_column, captions, caption_valid = carry
    source = (me - hop) % devices  # The device whose captions these are.
    logits = scale * jnp.einsum('ie,te->it', image, captions) + bias
    positive = (hop == 0) & jnp.eye(rows, dtype=bool)
    pair_valid = valid[:, None] & caption_valid[None, :]
    loss = loss - jnp.where(pair_valid, jax.nn.log_sigmoid(jnp.where(positive, logits, -logits)),
                            0.0).sum()
    masked = jnp.where(caption_valid[None, :], logits, -jnp.inf)
    column = masked.argmax(-1)
    score = masked.max(-1)
    # The lower column wins ties, as argmax over the whole row would: blocks arrive in ring order.
    better = (score > best) | ((score == best) & (source * rows + column < best_column))
    best = jnp.where(better, score, best)
    best_column = jnp.where(better, source * rows + column, best_column)
    captions, caption_valid = (jax.lax.ppermute(x, axes, ring) for x in (captions, caption_valid))
    return (loss, best, best_column, captions, caption_valid), None

  # The running sums and best captions differ between devices ('varying' over the batch axes).
  start = jax.lax.pcast((jnp.float32(0), jnp.full(rows, -jnp.inf), jnp.zeros(rows, jnp.int32)),
                        axes, to='varying') + (text, valid)
  (loss, _, best_column, _, _), _ = jax.lax.scan(step, start, jnp.arange(devices))
  hits = valid & (best_column == me * rows + jnp.arange(rows))
  local = (loss, hits.sum().astype(jnp.float32), valid.sum().astype(jnp.float32))
  return jax.lax.psum(local, axes)
