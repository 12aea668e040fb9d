"""Shared test helpers."""
import os

import pytest

CI = os.environ.get('CI', '').lower() in ('1', 'true')


def requires(available: bool, install_hint: str):
  """Skip when optional data is missing on a user's machine; under CI=true the test runs (and
  fails if the data really is missing), because CI installs everything."""
  return pytest.mark.skipif(not available and not CI, reason=install_hint)
