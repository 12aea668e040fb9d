"""Errors caused by the user's config, data or workdir rather than by a bug.

Their message names the cause and the fix; `big_uni.main` prints it without a traceback.
The base class lives in the data layer (input_pipeline), which big_uni imports, never the reverse.
"""
from input_pipeline.errors import UserInputError


class NonFiniteError(UserInputError, FloatingPointError):
  """A non-finite loss or gradient, usually from the learning rate or the data."""


class DiskFullError(UserInputError, OSError):
  """No space left while saving; every checkpoint already complete is kept."""
