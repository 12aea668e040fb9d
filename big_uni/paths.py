"""Workdir paths, local or on an object store (`gs://bucket/run`), all through etils.epath.

epath serves gs:// with TensorFlow's file system where TensorFlow is importable and with fsspec
(gcsfs) otherwise. big_uni always takes fsspec: it trains without TensorFlow (GPU machines), the
client is then the same with or without it, and gcsfs can be pointed at a GCS emulator
(STORAGE_EMULATOR_HOST) for the tests, which TensorFlow's cannot.
"""
import os
import zlib

os.environ['EPATH_USE_TF'] = 'false'  # epath reads it at every call.

import fsspec  # pylint: disable=g-import-not-at-top
from etils import epath  # pylint: disable=g-import-not-at-top

# gcsfs keeps directory listings until it writes there itself, but TensorStore (the checkpoint
# arrays) and the other processes of a multi-host run write past it.
fsspec.config.conf.setdefault('gcs', {})['use_listings_cache'] = False


def is_remote(path) -> bool:
  """An object store URL (gs://...) rather than a local path."""
  return '://' in str(path)


def bucket(path) -> str:
  """'gs://bucket' of 'gs://bucket/some/dir'."""
  scheme, rest = str(path).split('://', 1)
  return f'{scheme}://{rest.split("/", 1)[0]}'


def resolve(path) -> epath.Path:
  """`path` as an epath.Path; a local one made absolute (orbax refuses relative paths)."""
  return epath.Path(path if is_remote(path) else os.path.abspath(path))


def write_whole(path: epath.Path, data: bytes):
  """Replaces the file's content so that a reader, or a rerun after a kill, sees the old content
  or the new, never a part. An object store replaces an object only once its upload is complete;
  a local file is written beside and renamed over (gcsfs's rename is a copy and a delete)."""
  if is_remote(path):
    path.write_bytes(data)
    return
  # No 'tfevents' in the name: TensorBoard would read a leftover one as an event file.
  partial = path.parent / f'.{zlib.crc32(path.name.encode()):08x}.partial'
  partial.write_bytes(data)
  partial.replace(path)
