"""Linear probe (CLIP paper, appendix A.3): multinomial logistic regression on frozen features.

Protocol:
1. Validation split: the given one, or each training row with probability `val_fraction` (a
   seeded draw per row).
2. Features are centred on the mean of the training rows and divided by ONE overall standard
   deviation, so one C grid suits features of any scale, while their geometry stays the model's
   (CLIP fits raw features). Per-feature standardisation would blow up near-constant features.
3. The inverse L2 strength C is searched as in CLIP, on the validation accuracy: C in
   10^{-6, -4, ..., 6}, then the step around the best C is halved (in log10) until it is 1/8 of
   a decade. Models in the search train on about `max_sweep_examples` training rows (each with
   probability max_sweep_examples / rows, seeded), gathered into one array; ties in validation
   accuracy go to the smaller C.
4. The final model is fit with the best C on all training rows (plus the validation split when
   `refit_with_validation`) and scored on the test set.

Solver: sklearn's LogisticRegression objective (multinomial, L2 on the weights, bias free) in
its scaled form, mean log loss + ||W||^2 / (2 C n) (the minimiser of C * sum + ||W||^2 / 2), in
float32 on the devices by L-BFGS (10 pairs, backtracking Armijo line search, restarted where a step no longer
lowers the float32 loss). Loss and gradient
are sums over chunks of rows (chunks.py): each evaluation is one exact pass over the data that
holds one chunk's [rows, classes] logits at a time, so 1.28M x 1024 ImageNet features fit, on
the devices or read from disk. It stops at max |gradient| <= TOL (sklearn's tol), when the loss
stops falling, or after MAX_ITER iterations. Fits in the search start from zero, as sklearn's
(where regularisation is weak the loss is flat, and where a fit stops depends on its start); the
refit starts from the best C's solution on the sweep rows.

Deterministic: no solver randomness, seeded draws, fixed summation order.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from big_uni import numerics
from big_uni.evaluators import chunks as chunks_lib

MAX_ITER = 1000
TOL = 1e-4  # On max |gradient| of the scaled objective, as sklearn's (scipy's gtol).
HISTORY = 10  # L-BFGS pairs, as scipy's default.
LOG10_C_GRID = tuple(range(-6, 7, 2))  # CLIP's starting points, in log10(C).
FINEST_LOG10_STEP = 0.125  # 8 steps per decade.


def _logits(params, x, mean, scale):
  """x [r, D] -> [r, K]; params flat [D * K + K]: the weights, then the biases."""
  x = (x - mean) / scale
  num_classes = params.shape[0] // (x.shape[1] + 1)
  weights = params[:-num_classes].reshape(x.shape[1], num_classes)
  return jnp.dot(x, weights, precision=jax.lax.Precision.HIGHEST) + params[-num_classes:]


@jax.jit
def _loss_sums(params, x, y, weight, mean, scale):
  """(weighted log-loss sum, its gradient [P]) over one chunk; y int32 [r], weight [r]."""
  def loss(params):
    logits = _logits(params, x, mean, scale)
    picked = jnp.take_along_axis(logits, jnp.maximum(y, 0)[:, None], 1)[:, 0]
    return jnp.sum(weight * (jax.nn.logsumexp(logits, axis=-1) - picked))
  return jax.value_and_grad(loss)(params)


@functools.partial(jax.jit, static_argnames='top5')
def _correct_sums(params, x, y, weight, mean, scale, top5):
  """Weighted (top-1 hits, top-5 hits) over one chunk; y = -1 (a class not trained) misses."""
  logits = _logits(params, x, mean, scale)
  top1 = weight * (jnp.argmax(logits, -1) == y)
  if not top5:
    return top1.sum(), jnp.float32(0)
  return top1.sum(), (weight * numerics.top_k_hits(logits, y)).sum()


@jax.jit
def _moment_sums(x, weight, mean):
  return weight @ x, weight @ jnp.sum((x - mean) ** 2, axis=-1)


@jax.jit
def _direction(gradient, s, y):
  """L-BFGS two-loop recursion; s, y [HISTORY, P] oldest first, all-zero pairs unused."""
  sy = jnp.sum(s * y, axis=-1)
  rho = jnp.where(sy > 0, 1 / jnp.where(sy > 0, sy, 1), 0)

  def newest_first(q, i):
    alpha = rho[i] * (s[i] @ q)
    return q - alpha * y[i], alpha

  q, alphas = jax.lax.scan(newest_first, gradient, jnp.arange(HISTORY - 1, -1, -1))
  newest_yy = y[-1] @ y[-1]
  gamma = jnp.where(sy[-1] > 0, sy[-1] / jnp.where(newest_yy > 0, newest_yy, 1),
                    1 / jnp.maximum(jnp.linalg.norm(gradient), 1e-12))

  def oldest_first(r, args):
    i, alpha = args
    return r + s[i] * (alpha - rho[i] * (y[i] @ r)), None

  r, _ = jax.lax.scan(oldest_first, gamma * q, (jnp.arange(HISTORY), alphas[::-1]))
  return -r


@jax.jit
def _take(features, j):
  return features[j]  # Stays where it is: chunk j of each device's rows.


class _Rows:
  """Rows of one or more Chunks with a weight each (0: not part of these rows), read one chunk
  at a time; `parts`: [(Chunks, [weights float32 [rows] per chunk])]."""

  def __init__(self, parts, classes: np.ndarray):
    self.parts, self.classes = parts, classes
    self.count = float(sum(w.sum() for _, weights in parts for w in weights))

  def __iter__(self):
    """Yields (x float32 [r, D], class indices int32 [r] (-1: not a class), weights [r])."""
    for chunks, weights in self.parts:
      for j, weight in enumerate(weights):
        if not weight.any():
          continue
        if isinstance(chunks.features, jax.Array):
          x = _take(chunks.features, np.int32(j))
        else:
          x = jnp.asarray(np.asarray(chunks.features[j], np.float32))
        # Padding rows weigh 0, but 0 * NaN is NaN (BERT's features of an all-padding text).
        x = jnp.where(jnp.asarray(weight > 0)[:, None], x, 0.0)
        labels = np.asarray(chunks.labels[j])
        index = np.minimum(np.searchsorted(self.classes, labels), len(self.classes) - 1)
        y = np.where(self.classes[index] == labels, index, -1).astype(np.int32)
        yield x, jnp.asarray(y), jnp.asarray(weight, jnp.float32)


def _total(function, rows: _Rows):
  """The sum over chunks of function(x, y, weights), a pytree of arrays. Each chunk's sum is
  awaited before the next chunk is read: queued ahead, every chunk would stay in memory."""
  total = None
  for x, y, w in rows:
    value = function(x, y, w)
    total = value if total is None else jax.tree.map(jnp.add, total, value)
    jax.block_until_ready(total)
  return total


def _accuracies(params, rows: _Rows, mean, scale) -> tuple[float, float]:
  top5 = len(rows.classes) >= 5
  hits = _total(lambda x, y, w: _correct_sums(params, x, y, w, mean, scale, top5), rows)
  return float(hits[0]) / rows.count, float(hits[1]) / rows.count


def _fit(rows: _Rows, c: float, params, mean, scale) -> tuple[jax.Array, int]:
  """L-BFGS from `params` on the scaled objective; returns (params, iterations)."""
  num_classes = len(rows.classes)
  penalised = jnp.ones_like(params).at[-num_classes:].set(0.0)  # Biases are not regularised.
  l2 = 1.0 / (c * rows.count)

  def value_and_grad(params):
    loss, grad = _total(lambda x, y, w: _loss_sums(params, x, y, w, mean, scale), rows)
    loss, grad = loss / rows.count, grad / rows.count
    weights = params * penalised
    return float(loss + 0.5 * l2 * (weights @ weights)), grad + l2 * weights

  s = y = jnp.zeros((HISTORY, params.shape[0]), jnp.float32)
  value, grad = value_and_grad(params)
  for iteration in range(MAX_ITER):
    if float(jnp.max(jnp.abs(grad))) <= TOL:
      return params, iteration
    direction = _direction(grad, s, y)
    slope = float(grad @ direction)
    step = 1.0
    while True:  # Backtracking until the Armijo condition holds.
      new_params = params + step * direction
      new_value, new_grad = value_and_grad(new_params)
      if new_value <= value + 1e-4 * step * slope or step < 1e-10:
        break
      step /= 2
    if not new_value < value:
      if not s.any():  # float32 precision reached: no step lowers the loss.
        return params, iteration
      # The pairs may scale the step for stiff directions (the weights, at small C) and leave
      # the rest (the biases) a decrease float32 cannot see: restart from steepest descent.
      s = y = jnp.zeros_like(s)
      continue
    s = jnp.roll(s, -1, axis=0).at[-1].set(new_params - params)
    y = jnp.roll(y, -1, axis=0).at[-1].set(new_grad - grad)
    params, value, grad = new_params, new_value, new_grad
  return params, MAX_ITER


def search_c(score) -> tuple[float, float, list[tuple[float, float]]]:
  """CLIP's parametric binary search over C, `score(log10 C)` -> validation accuracy; returns
  (best C, its accuracy, [(C, accuracy)] in increasing C)."""
  accuracies = {}  # log10(C) -> validation accuracy

  def evaluate(log10_c):
    if log10_c not in accuracies:
      accuracies[log10_c] = score(log10_c)

  def best():
    return max(accuracies, key=lambda log10_c: (accuracies[log10_c], -log10_c))

  for log10_c in LOG10_C_GRID:
    evaluate(log10_c)
  step = (LOG10_C_GRID[1] - LOG10_C_GRID[0]) / 2
  while step >= FINEST_LOG10_STEP:
    center = best()
    for log10_c in (center - step, center + step):
      if LOG10_C_GRID[0] <= log10_c <= LOG10_C_GRID[-1]:
        evaluate(log10_c)
    step /= 2
  log10_best = best()
  sweep = [(10.0 ** c, accuracies[c]) for c in sorted(accuracies)]
  return 10.0 ** log10_best, accuracies[log10_best], sweep


def _sweep_rows(chunks: chunks_lib.Chunks, weights: list[np.ndarray], classes, limit, seed):
  """About `limit` of the weighted rows, drawn with a seed, gathered into one chunk."""
  probability = 1.0 if limit is None else min(1.0, limit / sum(w.sum() for w in weights))
  picked = [np.flatnonzero((w > 0) & (np.random.default_rng([seed, 1, j]).random(len(w))
                                      < probability)) for j, w in enumerate(weights)]
  chunk_ids = np.concatenate([np.full(len(p), j) for j, p in enumerate(picked)])
  row_ids = np.concatenate(picked)
  if isinstance(chunks.features, jax.Array):
    features = chunks.features[jnp.asarray(chunk_ids), jnp.asarray(row_ids)]
  else:  # A chunk at a time: a memmap or generator need not hold more than one.
    features = np.concatenate([np.asarray(chunks.features[j], np.float32)[p]
                               for j, p in enumerate(picked) if len(p)])
  labels = np.concatenate([np.asarray(chunks.labels[j])[p] for j, p in enumerate(picked)])
  one_chunk = chunks_lib.Chunks(features[None], labels[None], np.ones((1, len(labels)), bool))
  return _Rows([(one_chunk, [np.ones(len(labels), np.float32)])], classes)


def linear_probe(train_x, train_y, test_x, test_y, val_x=None, val_y=None,
                 val_fraction: float = 0.1, max_sweep_examples: int | None = 20_000,
                 refit_with_validation: bool = True, seed: int = 0) -> dict:
  """Test accuracy of a logistic-regression probe with C chosen on validation data.

  train_x [N, D], train_y [N], test_x [M, D], test_y [M]; val_x [V, D] and val_y [V] or, when
  absent, about `val_fraction` of the training rows. Each x may instead be chunks.Chunks (its
  y then None), e.g. device-sharded features or a memmap. Returns {'best_C',
  'validation_accuracy', 'test_accuracy', 'test_top5_accuracy' (where there are at least 5
  classes), 'refit_iterations', 'sweep': [(C, validation accuracy), ...] in increasing C}.
  """
  if (val_x is None) != (val_y is None):
    raise ValueError('give both val_x and val_y, or neither')
  train = chunks_lib.as_chunks(train_x, train_y)
  test = chunks_lib.as_chunks(test_x, test_y)
  val = None if val_x is None else chunks_lib.as_chunks(val_x, val_y)

  def valid_labels(chunks):
    return [np.asarray(y)[np.asarray(v)] for y, v in zip(chunks.labels, chunks.valid)]

  classes = np.unique(np.concatenate(valid_labels(train) + (valid_labels(val) if val else [])))
  all_train = [np.asarray(v, np.float32) for v in train.valid]
  if val is None:
    held_out = [v * (np.random.default_rng([seed, 0, j]).random(len(v)) < val_fraction)
                for j, v in enumerate(all_train)]
    fit_weights = [v - h for v, h in zip(all_train, held_out)]
    val_part = (train, held_out)
    refit_parts = [(train, all_train)]
  else:
    fit_weights = all_train
    val_part = (val, [np.asarray(v, np.float32) for v in val.valid])
    refit_parts = [(train, all_train), val_part]
  val_rows = _Rows([val_part], classes)
  if not val_rows.count:
    raise ValueError(f'no validation rows: raise val_fraction={val_fraction} or give val_x')
  if not refit_with_validation:
    refit_parts = [(train, fit_weights)]

  # Centre and scale on all training rows, as the features are before any split.
  rows = _Rows([(train, all_train)], classes)
  zero = jnp.zeros(np.shape(train.features[0])[-1], jnp.float32)
  mean = _total(lambda x, y, w: _moment_sums(x, w, zero)[0], rows) / rows.count
  variance = _total(lambda x, y, w: _moment_sums(x, w, mean)[1], rows) / (rows.count * len(mean))
  scale = jnp.where(variance > 0, jnp.sqrt(variance), 1.0)

  sweep_rows = _sweep_rows(train, fit_weights, classes, max_sweep_examples, seed)
  solutions = {}  # log10(C) -> params fit on the sweep rows

  zeros = jnp.zeros(len(mean) * len(classes) + len(classes), jnp.float32)

  def score(log10_c):
    solutions[log10_c], _ = _fit(sweep_rows, 10.0 ** log10_c, zeros, mean, scale)
    return _accuracies(solutions[log10_c], val_rows, mean, scale)[0]

  best_c, val_accuracy, sweep = search_c(score)
  start = solutions[min(solutions, key=lambda c: abs(10.0 ** c - best_c))]
  params, iterations = _fit(_Rows(refit_parts, classes), best_c, start, mean, scale)
  test_rows = _Rows([(test, [np.asarray(v, np.float32) for v in test.valid])], classes)
  test_top1, test_top5 = _accuracies(params, test_rows, mean, scale)
  results = {'best_C': best_c, 'validation_accuracy': val_accuracy, 'test_accuracy': test_top1,
             'refit_iterations': iterations, 'sweep': sweep}
  if len(classes) >= 5:
    results['test_top5_accuracy'] = test_top5
  return results
