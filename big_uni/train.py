"""The one trainer: config -> mesh -> eval_shape init with shardings -> jitted step -> loop.

Every task (classification, and the objectives that follow) runs through `train_and_evaluate`; a
task (tasks/base.py) supplies its params, its loss and its evaluation sums.
"""
import contextlib
import math
import uuid
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from etils import epath
from jax.sharding import NamedSharding, PartitionSpec

from big_uni import (checkpoint, config_schema, data, errors, flops, grad_accum, metrics_log,
                     models, optim, paths, preemption, preflight, pretrained, sharding, tasks)
from big_uni.evaluators import runner


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


class Trainer:
  """Holds what train, eval and shapes modes share: task, mesh, optimizer, state shardings."""

  def __init__(self, config, total_steps: int | None = None, devices=None, task=None):
    """`total_steps` only shapes the lr schedule (None: from config and data); `devices`
    defaults to all of them; `task` is config's, built here unless given. The fields `config`
    leaves out are filled in, in place, with the schema's defaults."""
    self.config = config = config_schema.complete(config)
    self.task = task or tasks.build_task(config)
    self.data = data.Data(config, self.task)
    self.mesh = sharding.make_mesh(config.mesh, devices)
    for name in ('batch_size', 'eval_batch_size'):
      sharding.check_batch_size(config.input[name], self.mesh, f'input.{name}')
    for name, entry in config.evals.items():
      sharding.check_batch_size(entry.batch_size, self.mesh, f'evals.{name}.batch_size')
    self.rules = sharding.logical_rules(config)
    self.total_steps = total_steps or resolve_total_steps(config)
    self.tx, self.schedule = optim.build_optimizer(config.optimizer, self.total_steps)
    init_rng, self.dropout_rng = jax.random.split(jax.random.key(config.seed))

    def init_boxed(rng):
      params = self.task.init_params(rng)
      return TrainState(jnp.zeros((), jnp.int32), params, self.tx.init(params))

    # Shapes and logical axis names without allocating anything.
    boxed = jax.eval_shape(init_boxed, init_rng)
    sharding.check_divisible(boxed.params, self.mesh, self.rules)
    self.state_shardings = mesh_shardings(boxed, self.mesh, self.rules)
    self.abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        nn.unbox(boxed), self.state_shardings)
    self._init = jax.jit(lambda rng: nn.unbox(init_boxed(rng)),
                         out_shardings=self.state_shardings)
    self._init_rng = init_rng
    batch_sharding = sharding.batch_sharding(self.mesh)
    self.train_step = jax.jit(self._train_step, donate_argnums=0,
                              in_shardings=(self.state_shardings, batch_sharding),
                              out_shardings=(self.state_shardings, None))
    # The task's metrics (evaluators/kinds/task_metrics.py): sums stay on the devices, added
    # batch by batch; the host reads them once per evaluation.
    self.eval_step = jax.jit(
        lambda totals, params, batch: _add_sums(totals, self.task.eval_sums(params, batch)),
        in_shardings=(None, self.state_shardings.params, batch_sharding),
        out_shardings=NamedSharding(self.mesh, PartitionSpec()))

  @contextlib.contextmanager
  def context(self):
    """Mesh and logical rules must be active while tracing for the sharding constraints."""
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
      yield

  def init_state(self) -> TrainState:
    """A fresh state, each device holding only its shards (placed by out_shardings), with the
    pretrained weights `config.init` names (optimizer moments start at zero either way)."""
    state = self._init(self._init_rng)
    parts = self.task.loaded_parts()
    if self.config.init or parts:
      params = pretrained.initialise(state.params, self.config.init, self.config.model, parts)
      state = state.replace(params=params)
    return state

  def _train_step(self, state: TrainState, batch):
    rng = jax.random.fold_in(self.dropout_rng, state.step)
    (loss, metrics), grads = grad_accum.loss_and_grads(
        self.task, state.params, batch, rng, self.config.grad_accum_steps,
        self.state_shardings.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = self.task.constrain_params(optax.apply_updates(state.params, updates))
    metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads),
                   learning_rate=self.schedule(state.step))
    if self.config.skip_nonfinite_steps:
      params, opt_state, metrics = _skip_if_nonfinite(state, params, opt_state, metrics)
    return TrainState(state.step + 1, params, opt_state), metrics

def mesh_shardings(boxed_tree, mesh, rules):
  """NamedShardings of a tree of boxed (logically named) params and optimizer state; unboxed
  leaves are replicated. Unlike nn.get_partition_spec + nn.logical_to_mesh_sharding, leafless
  nodes (optax.MaskedNode of frozen params) stay as they are, so the tree keeps its structure."""
  def sharding(x):
    if isinstance(x, nn.Partitioned) and not jax.tree.leaves(x.value):
      return x.value  # A frozen param's slot in the trained optimizer state: nothing to place.
    logical = x.get_partition_spec() if isinstance(x, nn.Partitioned) else PartitionSpec()
    return NamedSharding(mesh, nn.logical_to_mesh_axes(logical, rules))
  return jax.tree.map(sharding, boxed_tree, is_leaf=lambda x: isinstance(x, nn.Partitioned))


def _add_sums(totals, sums):
  return jax.tree.map(lambda total, x: total + x.astype(jnp.float32), totals, sums)


def resolve_total_steps(config) -> int:
  if config.total_steps:
    return int(config.total_steps)
  examples = data.num_examples(config, config.input.train_split)
  return int(math.ceil(config.num_epochs * examples / config.input.batch_size))


def _skip_if_nonfinite(state: TrainState, params, opt_state, metrics):
  """Keeps the old params and optimizer state when the loss or a gradient is not finite; the
  step still counts (its batch and dropout key are spent) and `skipped_steps` marks it."""
  finite = jnp.isfinite(metrics['loss']) & jnp.isfinite(metrics['grad_norm'])
  params, opt_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                                   (params, opt_state), (state.params, state.opt_state))
  return params, opt_state, dict(metrics, skipped_steps=(~finite).astype(jnp.int32))


def _first_non_finite(step_metrics: list[dict], last_step: int) -> str | None:
  """Names the first step (of those reported at `last_step`) with a non-finite metric, and the
  metric: loss first, then grad_norm, then the others. Skipped steps do not count."""
  for step, metrics in enumerate(step_metrics, last_step - len(step_metrics) + 1):
    if metrics.get('skipped_steps', 0):
      continue
    for name in sorted(metrics, key=lambda name: (name != 'loss', name != 'grad_norm', name)):
      if not np.isfinite(metrics[name]):
        return f'non-finite {name} ({metrics[name]}) at step {step}'
  return None


def _means(step_metrics: list[dict]) -> dict[str, float]:
  """Means over the steps since the last report. Skipped steps (config.skip_nonfinite_steps)
  are left out, unless all were skipped, and `skipped_steps` is their count."""
  applied = [m for m in step_metrics if not m.get('skipped_steps', 0)] or step_metrics
  means = {k: float(np.mean([m[k] for m in applied])) for k in step_metrics[0]}
  if 'skipped_steps' in means:
    means['skipped_steps'] = float(sum(m['skipped_steps'] for m in step_metrics))
  return means


def _make_workdir(workdir: str) -> epath.Path:
  """Creates `workdir` (a local directory, or a prefix in an existing bucket) and checks that
  files can be written there, before any work is done."""
  path = paths.resolve(workdir)
  probe = path / f'.write-check-{uuid.uuid4().hex}'  # One per process.
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b'')
    probe.unlink()
  # gcsfs raises OSErrors for 403 and 404 but its own HttpError for others (401: no credentials).
  except Exception as e:  # pylint: disable=broad-except
    # An object store answers an upload with 404 only where the bucket is missing.
    if paths.is_remote(workdir) and isinstance(e, FileNotFoundError):
      bucket = paths.bucket(workdir)
      raise errors.UserInputError(
          f'--workdir={workdir}: the bucket {bucket} does not exist (or this account cannot see '
          f'it): create it (gcloud storage buckets create {bucket}) or correct the name') from None
    reason = getattr(e, 'strerror', None) or str(e) or type(e).__name__
    raise errors.UserInputError(
        f'--workdir={workdir} is not writable ({reason}): give a directory (or a gs:// bucket) '
        'this user can write to, or fix its permissions') from None
  return path


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
  """Trains (resuming from `workdir` if it holds a checkpoint); returns the final eval metrics.

  Everything the run will read is checked first (big_uni/preflight.py). SIGTERM (a preemption
  notice) ends the run after the current step, with a checkpoint. A non-finite loss or gradient
  stops it before anything is saved over the last good checkpoint. The last checkpoint is on
  disk before the last evaluation starts, and a rerun first runs the evaluations due at the step
  it resumes from that metrics.jsonl lacks (preempted at an evaluation step, or a finished run
  whose evaluation failed): a run's metrics do not depend on when it was stopped.
  """
  # clu (and TensorFlow, which clu.metric_writers imports) only here: not on the benchmark path.
  from big_uni import clu_logging  # pylint: disable=g-import-not-at-top
  config_schema.validate(config)  # Programmatic runs too: a misspelled key is not a default.
  config_schema.complete(config)
  workdir = _make_workdir(workdir)
  task = tasks.build_task(config)
  preflight.check(config, task)
  trainer = Trainer(config, task=task)
  checkpointer = checkpoint.Checkpointer(
      workdir / 'checkpoints', every_steps=config.checkpoint_every_steps,
      keep=config.checkpoint_keep)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(trainer.abstract_state)
  else:
    state = trainer.init_state()
  # Written once the checkpoint is known to fit: a refused resume keeps the run's config.json.
  if jax.process_index() == 0:
    paths.write_whole(workdir / 'config.json', config.to_json_best_effort(indent=2).encode())
  first_step = int(jax.device_get(state.step))
  total_steps = trainer.total_steps
  profile = clu_logging.profile_action(config, workdir, first_step, total_steps)
  metrics_log.log(f'{config.model.name}: {count_params(state.params):,} params, '
                  f'mesh {dict(trainer.mesh.shape)}, steps {first_step} -> {total_steps}, '
                  f'{models.describe_compute(trainer.task.model)}')
  metrics_log.log(clu_logging.parameter_table(trainer.abstract_state.params))

  rows = metrics_log.read_rows(workdir / 'metrics.jsonl')  # Read once: resume and recovery.
  recorded = metrics_log.recorded_metrics(rows, first_step)
  writer = clu_logging.create_writer(workdir, first_step, rows)
  train_batches = trainer.data.batches(config.input.train_split, train=True,
                                       start_step=first_step, num_steps=total_steps - first_step)
  progress = clu_logging.Progress(
      first_step, total_steps, config.input.batch_size,
      flops.step_cost(trainer.task, config.input.batch_size), jax.device_count(),
      flops.peak_tflops(jax.devices()[0]))
  step_metrics = metrics_log.load_window(workdir, first_step)  # Stopped between two rows.
  try:
    with trainer.context(), preemption.Notice() as notice:
      eval_metrics, missing = _recorded_evaluations(trainer, first_step, recorded)
      if eval_metrics and first_step == total_steps:
        metrics_log.log(f'step {first_step} (finished, as recorded in metrics.jsonl) | '
                        + ', '.join(f'{k}={v:.4f}' for k, v in eval_metrics.items()))
      if missing:
        metrics_log.log(f'step {first_step}: running the evaluations metrics.jsonl lacks '
                        f'({", ".join(missing)}) before anything else')
      eval_metrics.update(_evaluate(trainer, state.params, first_step, missing, writer))
      for step in range(first_step + 1, total_steps + 1):
        batch = sharding.global_batch(next(train_batches), trainer.mesh)
        state, metrics = trainer.train_step(state, batch)
        checkpointer.check()  # A failed async save stops the run here, not steps later.
        if profile is not None:
          profile(step)  # Starts or stops the trace of config.profile_steps steps.
        step_metrics.append(metrics)
        is_last = step == total_steps
        preempted = notice.reached(step)
        # Checkpoint steps are also logged: the finiteness check runs before anything is saved.
        writes_row = step % config.log_every_steps == 0 or checkpointer.due(step) or is_last
        if writes_row or preempted:
          fetched, step_metrics = jax.device_get(step_metrics), []
          non_finite = _first_non_finite(fetched, step)
          if non_finite:
            raise errors.NonFiniteError(
                f'{non_finite}; nothing after it was saved (last checkpoint: step '
                f'{checkpointer.latest_step()}). Lower config.optimizer.lr or check the input '
                'data; --config.skip_nonfinite_steps=True skips such steps instead.')
          if writes_row:
            scalars = _means(fetched)
            scalars.update(progress.report(step))
            writer.write_scalars(step, scalars)
            metrics_log.log(progress.console_line(step, scalars))
          else:  # The rerun's next row averages these steps too, as an uninterrupted run's.
            metrics_log.save_window(workdir, step, fetched)
        if preempted or is_last or checkpointer.due(step):
          # The rows of the steps up to a checkpoint are written before it can exist: a rerun
          # from it keeps them and writes the later ones again (clu_logging.JsonlWriter).
          writer.flush()
          checkpointer.save(step, state, force=preempted or is_last)
        if preempted:
          metrics_log.log(f'step {step}: stopping on SIGTERM (preemption notice) with a '
                          'checkpoint; rerun the same command to resume (and evaluate)')
          break
        if is_last:
          checkpointer.wait()  # On disk before the last evaluation: it can fail, not training.
        eval_metrics.update(_evaluate(trainer, state.params, step,
                                      runner.due(trainer, step), writer))
  finally:
    # Also on an error: the saves in flight complete, the rows written so far are kept.
    checkpointer.close()
    writer.close()
    # Its tf.data iterator ends now, not at interpreter exit (where TF logs an error about it).
    train_batches.close()
  return eval_metrics


def _recorded_evaluations(trainer, step: int,
                          recorded: dict[str, float]) -> tuple[dict[str, float], list[str]]:
  """(the metrics of the evaluations due at `step` that `recorded`, metrics.jsonl's rows of that
  step, holds; the names of those it lacks). Process 0's file decides for all processes: every
  process must run the same evaluations."""
  if not step:
    return {}, []
  prefixes = runner.prefixes(trainer.config, runner.due(trainer, step))
  present = {k: v for k, v in recorded.items() if k.startswith(tuple(prefixes.values()))}
  lacking = np.array([not any(k.startswith(p) for k in present) for p in prefixes.values()])
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  lacking = multihost_utils.broadcast_one_to_all(lacking)
  return present, [name for name, lacks in zip(prefixes, lacking) if lacks]


def _evaluate(trainer, params, step: int, names: list[str], writer) -> dict[str, float]:
  """Runs the `config.evals` entries `names` (runner.due), writes and prints their metrics."""
  metrics = runner.run(trainer, params, names=names)
  if not metrics:
    return metrics
  writer.write_scalars(step, metrics)
  metrics_log.log(f'step {step} | {runner.format_results(metrics)}')
  non_finite = sorted(k for k, v in metrics.items() if not math.isfinite(v))
  if non_finite:
    metrics_log.log(f'step {step}: non-finite evaluation metrics {non_finite} (written to '
                    'metrics.jsonl as null): the model or the evaluation data is broken')
  return metrics


def evaluate_checkpoint(config, workdir: str) -> dict[str, float]:
  """`--mode=eval`: every `config.evals` entry on the latest checkpoint in `workdir`; without
  one, the pretrained weights `config.init` names, as they load (e.g. DINOv2 features for kNN)."""
  trainer, step, params = restore_or_init(config, workdir)
  metrics = runner.run(trainer, params)
  metrics_log.log(f'step {step} | {runner.format_results(metrics)}')
  return metrics


def restore_or_init(config, workdir: str):
  """(trainer, step, params) to evaluate: the latest checkpoint in `workdir`, else step 0 with
  the weights `config.init` loads; a UserInputError when there is neither."""
  trainer = Trainer(config, total_steps=1)  # The lr schedule plays no part in evaluation.
  checkpointer = checkpoint.Checkpointer(paths.resolve(workdir) / 'checkpoints', every_steps=1,
                                         keep=config.checkpoint_keep)
  step = checkpointer.latest_step()
  if step is not None:
    state = checkpointer.restore(trainer.abstract_state)
  elif config.init:
    metrics_log.log(f'no checkpoint in {workdir}/checkpoints: evaluating the weights config.init '
                    f'loads ({", ".join(e.kind for e in config.init.values())}), step 0')
    step, state = 0, trainer.init_state()
  else:
    checkpointer.close()
    raise errors.UserInputError(f'no checkpoint in {workdir}/checkpoints: train first with '
                                f'--mode=train --workdir={workdir}')
  checkpointer.close()
  return trainer, step, state.params


def count_params(params) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(params))
