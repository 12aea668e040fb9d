"""Errors caused by the user's config, data or workdir rather than by a bug.

Their message names the cause and the fix; `big_uni.main` prints it without a traceback.
"""


class UserInputError(Exception):
  """Bad config, missing data or checkpoint: the message says what to do."""
