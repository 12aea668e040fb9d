"""Orbax checkpoints of the train state: async saves every N steps, resume from the newest
checkpoint that reads back intact.

`<directory>/<step>/` holds the state and a checksum of every array (item `checksums`, JSON).
- A save cut short (the process died while writing) is an orbax temporary directory: it is never
  restored; it is reported and removed when the next run starts.
- A checkpoint whose files were truncated or altered fails to read or to match its checksums: the
  run resumes from the newest intact one with a warning and renames the bad one
  `<step>.unreadable-<time>` (kept for inspection, never deleted).
- Old checkpoints are deleted only once a newer one is complete, so a failed save (disk full)
  never costs the last good one.
"""
import errno
import logging as std_logging
import sys
import time
import traceback
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from big_uni import errors, paths, trees


# Orbax's coroutines that read one array of a restore (orbax/checkpoint/_src/serialization).
_ORBAX_ARRAY_READS = ('async_deserialize', '_read_array_index_and_device_put')
# Checkpoint step directories whose restore failed and was reported (a warning, or an error):
# the reads orbax abandoned there are echoes of that report, whichever future or task held them.
_REPORTED_UNREADABLE: set[str] = set()


def reported_unreadable(step_dir) -> None:
  """Marks `step_dir` (a checkpoint step's directory) as reported unreadable: asyncio's and the
  interpreter's later reports of its abandoned reads are dropped."""
  _REPORTED_UNREADABLE.add(str(step_dir).rstrip('/') + '/')


def _names_a_reported_checkpoint(text: str) -> bool:
  return any(step_dir in text for step_dir in _REPORTED_UNREADABLE)


class _EchoesOfFailedOrbaxIo(std_logging.Filter):
  """Drops orbax's own error logs of a save or restore that failed and is reported once by this
  module:
  - a save that failed for lack of space (one traceback per background thread, and asyncio's
    'Task exception was never retrieved' for each write that failed after the first): the run
    raises a DiskFullError naming the kept checkpoint;
  - the other array reads of a restore that failed on one array (a truncated checkpoint), which
    asyncio reports as '... exception was never retrieved' when the garbage collector meets
    them (a Task running one of orbax's array reads, the _GatheringFuture gathering them, or a
    TensorStore Future naming the checkpoint's files): `restore` sets the checkpoint aside with
    one warning, or raises a UserInputError when none reads back."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if 'orbax' not in record.pathname and record.name != 'asyncio':
      return True
    error = record.exc_info[1] if record.exc_info else None
    message = record.getMessage()
    abandoned_read = record.name == 'asyncio' and (
        _names_a_reported_checkpoint(message + str(error or '')) or
        _raised_in_orbax_array_read(error) or 'orbax' in message and any(
            f'coro=<{read}()' in message for read in _ORBAX_ARRAY_READS))
    return not ('No space left on device' in message or _is_disk_full(error) or abandoned_read)


def _raised_in_orbax_array_read(error: BaseException | None) -> bool:
  """Whether `error`, or an error it was raised from, came out of one of orbax's array reads."""
  while error is not None:
    if any(frame.name in _ORBAX_ARRAY_READS
           for frame in traceback.extract_tb(error.__traceback__)):
      return True
    error = error.__cause__
  return False


def _drop_echoes_of_failed_io(unraisable) -> None:
  """sys.unraisablehook that drops the echoes of a save or restore that already failed and was
  reported, one traceback per array otherwise:
  - 'Event loop is closed' from asyncio's call_soon_threadsafe: an orbax save runs in an event
    loop of its own; when one array write fails (a full disk) the save ends and closes that loop
    while TensorStore still finishes the others, whose completion callbacks find it closed;
  - orbax's array reads (`_ORBAX_ARRAY_READS`, or any error naming a checkpoint reported
    unreadable) of a restore that failed on another array (a truncated checkpoint, which the
    restore sets aside with a warning), closed while they still wait on TensorStore.
  Every other unraisable exception goes to the hook installed before."""
  error = unraisable.exc_value
  closed_loop = (isinstance(error, RuntimeError) and str(error) == 'Event loop is closed'
                 and any(frame.name == 'call_soon_threadsafe'
                         for frame in traceback.extract_tb(unraisable.exc_traceback)))
  code = getattr(unraisable.object, 'cr_code', None)
  abandoned_read = (code is not None and code.co_name in _ORBAX_ARRAY_READS
                    or _names_a_reported_checkpoint(str(error)))
  if not (closed_loop or abandoned_read):
    _drop_echoes_of_failed_io.previous(unraisable)


class Checkpointer:
  """Wraps an orbax CheckpointManager over `<workdir>/checkpoints/<step>/{state,checksums}`."""

  def __init__(self, directory: epath.PathLike, *, every_steps: int, keep: int,
               async_save: bool = True):
    # asyncio's records reach the root handler by propagation, past the absl logger's filters.
    for logger in (logging.get_absl_logger(), std_logging.getLogger('asyncio')):
      if not any(isinstance(f, _EchoesOfFailedOrbaxIo) for f in logger.filters):
        logger.addFilter(_EchoesOfFailedOrbaxIo())
    # A read the failed restore created but never started: warned of when collected at exit.
    warnings.filterwarnings('ignore', category=RuntimeWarning, message=(
        rf"coroutine '({'|'.join(_ORBAX_ARRAY_READS)})' was never awaited"))
    if sys.unraisablehook is not _drop_echoes_of_failed_io:
      _drop_echoes_of_failed_io.previous = sys.unraisablehook
      sys.unraisablehook = _drop_echoes_of_failed_io
    directory = paths.resolve(directory)  # Orbax refuses relative paths (--workdir=runs/x).
    self._directory = directory
    self._every_steps = every_steps
    self._pending_step = None  # The step of the async save in flight, if any.
    _remove_incomplete_saves(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, enable_async_checkpointing=async_save, create=True)
    self._manager = ocp.CheckpointManager(directory, options=options, item_handlers={
        'state': ocp.StandardCheckpointHandler(), 'checksums': ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, abstract_state):
    """The newest intact checkpoint, on the shardings in `abstract_state` (a tree of
    jax.ShapeDtypeStruct). Unreadable newer ones are set aside once an older one restores."""
    unreadable = {}  # step -> why
    for step in reversed(self._manager.all_steps()):
      try:
        state = self._restore_step(step, abstract_state)
      except errors.UserInputError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        # TensorStore, JSON, orbax and the checksums each raise their own kind of error.
        unreadable[step] = _root_cause(e)
        reported_unreadable(self._directory / str(step))  # A warning or the error below.
        continue
      self._set_aside(unreadable, step)
      logging.info('Restored checkpoint at step %d', step)
      return state
    raise errors.UserInputError(
        f'no checkpoint in {self._directory} reads back intact: '
        + '; '.join(f'step {step}: {why}' for step, why in unreadable.items())
        + '. They are left as they are: move them out of the way to start afresh.')

  def _restore_step(self, step: int, abstract_state):
    _check_fits(self._manager.item_metadata(step)['state']['params'], abstract_state.params,
                step, self._directory)
    # Checkpoints written before checksums existed restore without the check.
    verified = (self._directory / str(step) / 'checksums').is_dir()
    items = {'state': ocp.args.StandardRestore(abstract_state)}
    if verified:
      items['checksums'] = ocp.args.JsonRestore()
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    if verified and checksums(restored.state) != restored.checksums:
      raise ValueError('its arrays do not match their checksums')
    return restored.state

  def _set_aside(self, unreadable: dict[int, str], restored_step: int):
    """Renames unreadable step directories so that orbax no longer lists (or reuses) them."""
    if not unreadable:
      return
    if jax.process_index() == 0:
      for step, why in unreadable.items():
        path = self._directory / str(step)
        kept = path.parent / f'{path.name}.unreadable-{int(time.time())}'
        path.rename(kept)
        logging.warning('the checkpoint at step %d is unreadable (%s): kept as %s; resuming from '
                        'step %d, the newest intact checkpoint', step, why, kept, restored_step)
    multihost_utils.sync_global_devices('big_uni checkpoints set aside')
    self._manager.reload()

  def due(self, step: int) -> bool:
    """Whether `step` is on the save interval."""
    # The interval is decided here: orbax on its own would also save the first step it sees.
    return step % self._every_steps == 0

  def save(self, step: int, state, *, force: bool = False) -> bool:
    """Starts an async save if `step` is on the interval (or `force`); returns whether it did."""
    if not force and not self.due(step):
      return False
    self.wait()
    try:
      saved = self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), checksums=ocp.args.JsonSave(checksums(state))),
                                 force=True)
    except Exception as e:  # pylint: disable=broad-except
      self._raise_if_disk_full(e, step)
      raise
    self._pending_step = step
    return saved

  def check(self):
    """Raises the error of an async save that has failed by now (without waiting for one in
    flight), as `wait` would: called after each step, so that a failed save stops the run at
    once instead of at the next save."""
    try:
      self._manager.check_for_errors()
    except Exception as e:  # pylint: disable=broad-except
      self._raise_if_disk_full(e, self._pending_step)
      raise

  def wait(self):
    """Blocks until the async save in flight is on disk; its errors name its step."""
    try:
      self._manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      self._raise_if_disk_full(e, self._pending_step)
      raise
    self._pending_step = None

  def _raise_if_disk_full(self, error: Exception, step: int):
    if not _is_disk_full(error):
      return
    self._manager.reload()  # Orbax forgot the steps it meant to delete after this save.
    complete = [s for s in self._manager.all_steps() if s != step]
    kept = (f'the newest complete checkpoint, step {max(complete)}, is kept and the rerun '
            'resumes from it') if complete else 'no checkpoint was complete yet'
    raise errors.DiskFullError(
        f'the disk is full (No space left on device): saving the checkpoint of step {step} to '
        f'{self._directory} failed. Free some space (or give a --workdir on a larger disk) and '
        f'rerun the same command; {kept}.') from error

  def close(self):
    """Blocks until pending async saves are on disk."""
    self.wait()
    self._manager.close()


def checksums(state) -> dict[str, int]:
  """{array path: sum of its words modulo 2**32}. Any altered word changes it, and the shards
  can be added in any order, so a restore onto another mesh gets the same sums. Summed by numpy
  over this process's shards (XLA:CPU integer reductions are ~10x slower), then over processes."""
  paths, arrays = zip(*jax.tree_util.tree_flatten_with_path(state)[0])
  sums = np.array([_local_sum(x) for x in arrays], np.uint32)
  if jax.process_count() > 1:
    sums = multihost_utils.process_allgather(sums).sum(axis=0, dtype=np.uint32)
  return {jax.tree_util.keystr(path): int(total) for path, total in zip(paths, sums)}


def host_checksums(tree) -> dict[str, int]:
  """`checksums` of a tree of numpy arrays that this process holds whole (a restore to host
  memory): no sum over processes."""
  paths, arrays = zip(*jax.tree_util.tree_flatten_with_path(tree)[0])
  return {jax.tree_util.keystr(path): _words_sum(np.asarray(x)) for path, x in zip(paths, arrays)}


def _local_sum(array: jax.Array) -> int:
  # Every element once, however it is replicated.
  return sum(_words_sum(np.asarray(shard.data)) for shard in array.addressable_shards
             if shard.replica_id == 0) % 2**32


def _words_sum(array: np.ndarray) -> int:
  words = array.reshape(-1)
  return int(words.view(f'uint{8 * words.itemsize}').sum(dtype=np.uint32))


def _check_fits(saved_params, model_params, step: int, directory: epath.Path):
  """A checkpoint of another model is a config mistake, not a corrupt file: name the param."""
  saved, model = trees.flatten(saved_params), trees.flatten(model_params)
  fix = ('Resume with the config this run was started with (config.json in the workdir), or '
         'train the new model in a new --workdir (config.init can load the old params).')
  for name in sorted(saved.keys() | model.keys()):
    if name not in saved or name not in model:
      where = 'the model' if name in model else 'the checkpoint'
      raise errors.UserInputError(
          f'the checkpoint at step {step} in {directory} does not fit config.model: param {name} '
          f'exists only in {where}. {fix}')
    if tuple(saved[name].shape) != tuple(model[name].shape):
      raise errors.UserInputError(
          f'the checkpoint at step {step} in {directory} does not fit config.model: param {name} '
          f'has shape {tuple(saved[name].shape)} in the checkpoint and '
          f'{tuple(model[name].shape)} in the model. {fix}')


def _remove_incomplete_saves(directory: epath.Path):
  """Orbax's unfinished saves: local ones are temporary directories, gs:// ones step directories
  without a commit file (an object store has no atomic rename of a directory).

  Removed here, before the manager exists: orbax's own clean-up (cleanup_tmp_directories) runs
  in the background and is only awaited by the next save, so a restore or a listing could race
  it."""
  if jax.process_index() == 0 and directory.exists():
    for name in sorted(ocp.path.step.tmp_checkpoints(directory)):
      logging.warning('%s is a checkpoint save that did not finish (the process stopped while '
                      'writing it): it is removed, and the run resumes from the newest complete '
                      'checkpoint', directory / name)
      (directory / name).rmtree()
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices('big_uni incomplete checkpoint saves removed')


def _root_cause(error: BaseException) -> str:
  """The first line of the innermost cause: TensorStore wraps its reason in a long spec."""
  while error.__cause__ is not None:
    error = error.__cause__
  lines = str(error).splitlines()
  return lines[0][:300] if lines else type(error).__name__


def _is_disk_full(error: BaseException | None) -> bool:
  """ENOSPC as an OSError (Python writes) or in TensorStore's message (array writes)."""
  while error is not None:
    if getattr(error, 'errno', None) == errno.ENOSPC or 'No space left on device' in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False
