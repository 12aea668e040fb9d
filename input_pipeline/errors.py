"""Errors caused by the user's config or data rather than by a bug.

Their message names the cause and the fix; `big_uni.main` prints it without a traceback.
`big_uni.errors` adds the trainer's (non-finite loss, full disk) to these.
"""


class UserInputError(ValueError):
  """Bad config, missing or corrupt data, or a missing checkpoint: the message says what to do."""
