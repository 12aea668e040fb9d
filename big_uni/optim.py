"""Optimizer and learning-rate schedule from `config.optimizer`."""
import functools
import re

import jax
import jax.numpy as jnp
import optax

from big_uni import config_schema
from input_pipeline.registry import Registry

# optimizer.name -> (opt_config, schedule) -> the optax transformations of its update, after
# the gradient clipping; weight decay (optimizer.weight_decay) skips all but kernels.
OPTIMIZERS = Registry('optimizer')


def learning_rate_schedule(opt_config, total_steps: int) -> optax.Schedule:
  """Linear warmup from 0 to `lr` over `warmup_steps` (or `warmup_fraction` of the run), then
  `decay` ('cosine' | 'linear' | 'constant' | 'inverse_sqrt') to the end.

  'inverse_sqrt' is the Transformer paper's: lr * sqrt(warmup / step) after the warmup, with no
  end (end_lr_factor does not apply). With lr = (d_model * warmup)^-0.5 the whole schedule is
  the paper's d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) (step = the count of updates
  before this one: 0 at the first, as for every warmup here).
  """
  opt_config = config_schema.completed(opt_config, config_schema.OPTIMIZER)
  warmup = int(opt_config.warmup_steps or round(opt_config.warmup_fraction * total_steps))
  peak = opt_config.lr
  decay_steps = max(total_steps - warmup, 1)
  end = peak * opt_config.end_lr_factor
  decay = opt_config.decay
  if decay == 'cosine':
    after = optax.cosine_decay_schedule(peak, decay_steps, alpha=end / peak if peak else 0.0)
  elif decay == 'linear':
    after = optax.linear_schedule(peak, end, decay_steps)
  elif decay == 'constant':
    after = optax.constant_schedule(peak)
  elif decay == 'inverse_sqrt':
    if not warmup:
      raise ValueError("optimizer.decay='inverse_sqrt' needs warmup_steps (or warmup_fraction): "
                       'it is lr * sqrt(warmup / step) after them')
    # It counts from the end of the warmup; join_schedules evaluates it before (count < 0) too.
    after = lambda count: peak * jnp.sqrt(warmup / jnp.maximum(count + warmup, warmup))
  else:
    raise ValueError(f"optimizer.decay={decay!r}: use 'cosine', 'linear', 'constant' or "
                     "'inverse_sqrt'")
  if not warmup:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def weight_decay_mask(params):
  """Decay only weight matrices ('*kernel'): biases, norms, embeddings and tokens are skipped."""
  def is_kernel(path, _):
    names = [p.key for p in path if isinstance(p, jax.tree_util.DictKey)]
    return names[-1].endswith('kernel')
  return jax.tree_util.tree_map_with_path(is_kernel, params)


@OPTIMIZERS.register('adamw')
def adamw(opt_config, schedule) -> list[optax.GradientTransformation]:
  return [optax.adamw(schedule, b1=opt_config.b1, b2=opt_config.b2, eps=opt_config.eps,
                      weight_decay=opt_config.weight_decay, mask=weight_decay_mask)]


@OPTIMIZERS.register('sgd')
def sgd(opt_config, schedule) -> list[optax.GradientTransformation]:
  return [optax.add_decayed_weights(opt_config.weight_decay, mask=weight_decay_mask),
          optax.sgd(schedule, momentum=opt_config.momentum, nesterov=opt_config.nesterov)]


def build_optimizer(opt_config, total_steps: int):
  """Returns (optax transformation, learning-rate schedule)."""
  opt_config = config_schema.completed(opt_config, config_schema.OPTIMIZER)
  update = OPTIMIZERS.get(opt_config.name)  # An unknown name is refused before anything runs.
  schedule = learning_rate_schedule(opt_config, total_steps)
  parts = []
  if opt_config.grad_clip_norm:
    parts.append(optax.clip_by_global_norm(opt_config.grad_clip_norm))
  parts += update(opt_config, schedule)
  tx = optax.chain(*parts)
  frozen = tuple(opt_config.frozen)
  if frozen:
    # Locked towers (LiT): their updates are zero, and they carry no optimizer moments.
    tx = optax.multi_transform({'trained': tx, 'frozen': optax.set_to_zero()},
                               functools.partial(freeze_labels, frozen))
  return tx, schedule


def freeze_labels(patterns, params):
  """'frozen' for params whose '/'-joined path fully matches one of the regexes `patterns`."""
  compiled = [re.compile(p) for p in patterns]

  def label(path, _):
    name = '/'.join(str(getattr(p, 'key', p)) for p in path)
    return 'frozen' if any(p.fullmatch(name) for p in compiled) else 'trained'
  labels = jax.tree_util.tree_map_with_path(label, params)
  if 'frozen' not in jax.tree.leaves(labels):
    raise ValueError(f'optimizer.frozen={patterns} matches no parameter')
  return labels
