"""Preemption notices: SIGTERM asks the run to checkpoint at a step boundary and exit cleanly.

One process: a SIGTERM handler sets a flag that the loop reads after every step. Several
processes (jax.distributed): JAX's preemption service catches SIGTERM on any of them and
`reached_preemption_sync_point` returns True on all of them at the same step, so they stop and
save together instead of one waiting forever in a collective for the others.
"""
import signal
import threading

import jax
from jax.experimental import multihost_utils


class Notice:
  """`with Notice() as notice:` ... `if notice.reached(step):` save and stop."""

  def __init__(self):
    self._received = False
    self._previous_handler = None

  def __enter__(self):
    # Python handlers can only be installed from the main thread; with several processes JAX's
    # own SIGTERM handler must stay in place.
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      self._previous_handler = signal.signal(signal.SIGTERM, self._receive)
    return self

  def __exit__(self, *exc_info):
    if self._previous_handler is not None:
      signal.signal(signal.SIGTERM, self._previous_handler)

  def _receive(self, signum, frame):
    del signum, frame
    self._received = True

  def reached(self, step: int) -> bool:
    """Called after every step by every process: True once the run should save and stop."""
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._received
