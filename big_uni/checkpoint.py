"""Orbax checkpoints of the train state: async saves every N steps, automatic resume."""
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
  """Wraps an orbax CheckpointManager over `<workdir>/checkpoints/<step>/state`."""

  def __init__(self, directory: str, *, every_steps: int, keep: int, async_save: bool = True):
    self._every_steps = every_steps
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        enable_async_checkpointing=async_save, create=True)
    self._manager = ocp.CheckpointManager(directory, options=options, item_names=('state',))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, abstract_state, step: int | None = None):
    """Restores onto the shardings in `abstract_state` (a tree of jax.ShapeDtypeStruct)."""
    step = self.latest_step() if step is None else step
    restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))
    logging.info('Restored checkpoint at step %d', step)
    return restored.state

  def save(self, step: int, state, *, force: bool = False) -> bool:
    """Starts an async save if `step` is on the interval (or `force`); returns whether it did."""
    # The interval is decided here: orbax on its own would also save the first step it sees.
    if not force and step % self._every_steps:
      return False
    return self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)),
                              force=True)

  def close(self):
    """Blocks until pending async saves are on disk."""
    self._manager.wait_until_finished()
    self._manager.close()

