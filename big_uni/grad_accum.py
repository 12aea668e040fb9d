"""The loss and gradients of one global batch, in `steps` micro-batches that keep its objective.

Micro-batch i takes rows i, i + steps, i + 2 * steps, ...: each device splits its own rows, so
every micro-batch stays sharded over all the batch devices and no data moves. Gradients add up in
float32 in a scan, so only one micro-batch's activations live at a time. The result is the
plain step's (tests/big_uni/test_grad_accum.py), for both kinds of task (tasks/base.py):

- RowSumTask: micro-batch sums are divided by the weights of the *whole* batch (e.g. its masked
  token count), not by their own, so micro-batches with uneven counts weigh as in one batch.
- EmbeddingTask (contrastive): GradCache (Gao et al. 2021; open_clip's --accum-freq). The
  embeddings of all micro-batches come first, with no activations kept; the loss of the whole
  batch (all B negatives) and its gradient w.r.t. the embeddings follow; then each micro-batch's
  forward runs again and backpropagates its slice of that gradient. The cost: one extra forward.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from big_uni.tasks import base


def loss_and_grads(task: base.Task, params, batch, rng, steps: int, grad_shardings):
  """-> ((loss, metrics), grads) of `task` on `batch`, in `steps` micro-batches."""
  if steps == 1:
    return jax.value_and_grad(task.loss_and_metrics, has_aux=True)(params, batch, rng)
  micro_batches = jax.tree.map(lambda x: _split(x, steps), batch)
  keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(jnp.arange(steps))
  if isinstance(task, base.EmbeddingTask):
    return _embedding_cache(task, params, micro_batches, keys, grad_shardings)
  return _row_sums(task, params, batch, micro_batches, keys, grad_shardings)


def _split(x, steps):
  """[B, ...] -> [steps, B / steps, ...]."""
  if x.shape[0] % steps:
    raise ValueError(f'batch of {x.shape[0]} is not divisible by grad_accum_steps={steps}')
  x = x.reshape(x.shape[0] // steps, steps, *x.shape[1:]).swapaxes(0, 1)
  return nn.with_logical_constraint(x, (None, 'act_batch'))


def _merge(x):
  """`_split`'s inverse: [steps, B / steps, ...] -> [B, ...], rows back in batch order."""
  x = x.swapaxes(0, 1)
  return nn.with_logical_constraint(x.reshape(-1, *x.shape[2:]), ('act_batch',))


def _zeros_like(tree, grad_shardings=None):
  zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.float32), tree)
  if grad_shardings is not None:
    zeros = jax.lax.with_sharding_constraint(zeros, grad_shardings)
  return zeros


def _add(totals, tree):
  return jax.tree.map(lambda total, x: total + x.astype(jnp.float32), totals, tree)


def _row_sums(task: base.RowSumTask, params, batch, micro_batches, keys, grad_shardings):
  weights = task.loss_weights(batch)  # Of the whole batch.

  def micro_loss(params, micro_batch, key):
    sums = task.train_sums(params, micro_batch, key)
    return task.combine(sums, weights)[0], sums

  grad_fn = jax.value_and_grad(micro_loss, has_aux=True)

  def accumulate(totals, micro):
    return _add(totals, grad_fn(params, *micro)), None

  first = jax.tree.map(lambda x: x[0], (micro_batches, keys))
  shapes = jax.eval_shape(grad_fn, params, *first)
  (loss, sums), grads = shapes
  zeros = (_zeros_like(loss), _zeros_like(sums)), _zeros_like(grads, grad_shardings)
  ((loss, sums), grads), _ = jax.lax.scan(accumulate, zeros, (micro_batches, keys))
  _, metrics = task.combine(sums, weights)
  return (loss, metrics), grads


def _embedding_cache(task: base.EmbeddingTask, params, micro_batches, keys, grad_shardings):
  # 1. Every micro-batch's embeddings, outside autodiff: nothing is kept for a backward pass.
  embeddings = jax.lax.map(lambda micro: task.embed(params, *micro), (micro_batches, keys))
  # 2. The whole batch's loss; gradients w.r.t. the params it reads itself (CLIP's logit scale
  # and bias) and w.r.t. every embedding.
  (loss, metrics), (grads, embedding_grads) = jax.value_and_grad(
      task.batch_loss, argnums=(0, 1), has_aux=True)(params, jax.tree.map(_merge, embeddings))
  embedding_grads = jax.tree.map(lambda g: _split(g, keys.shape[0]), embedding_grads)

  # 3. Per micro-batch: the forward again, and its backward from its slice of those gradients.
  def accumulate(totals, micro):
    micro_batch, key, cotangent = micro
    _, backward = jax.vjp(lambda p: task.embed(p, micro_batch, key), params)
    return _add(totals, backward(cotangent)[0]), None

  grads = jax.lax.with_sharding_constraint(_add(_zeros_like(grads), grads), grad_shardings)
  grads, _ = jax.lax.scan(accumulate, grads, (micro_batches, keys, embedding_grads))
  return (loss, metrics), grads
