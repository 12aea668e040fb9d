"""Errors caused by the user's config, data or workdir rather than by a bug.

Their message names the cause and the fix; `big_uni.main` prints it without a traceback.
"""


class UserInputError(ValueError):
  """Bad config, missing data or checkpoint: the message says what to do."""


class NonFiniteError(UserInputError, FloatingPointError):
  """A non-finite loss or gradient, usually from the learning rate or the data."""


class DiskFullError(UserInputError, OSError):
  """No space left while saving; every checkpoint already complete is kept."""
