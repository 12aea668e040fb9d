"""input.dataset '<prefix>:<path>': data named by a registered prefix rather than by TFDS name.

Each kind of data keeps a Registry of its prefixes, filled beside its sources (a registration is
one line there): sources.PREFIXED (images: image_folder:), caption_sources.PREFIXED (captioned
images: captions_tsv:, wds:) and text_corpora.PREFIXED (corpora: text_files:). They are separate
because their sources answer different questions (examples by index, documents), and so that the
text pipelines never import the image sources' TensorFlow.
"""
import re
from typing import Any

from input_pipeline import registry

# A TFDS name may end in ':<version>', and some are close to a prefix (coco_captions:1.0.0).
_TFDS_VERSION = re.compile(r'[0-9*]+(\.[0-9*]+)*')


def opened(input_config, prefixes: registry.Registry):
  """The source of input_config.dataset if it is '<prefix>:<path>' with a prefix in `prefixes`
  (its entry called with (path, input_config)), else None."""
  found = prefixed(input_config.dataset, prefixes)
  return None if found is None else found[0](found[1], input_config)


def prefixed(dataset: str, prefixes: registry.Registry) -> tuple[Any, str] | None:
  """(the entry of its prefix, the path after the colon) of a dataset named '<prefix>:<path>'
  with a prefix in `prefixes`; None for other names, TFDS ones ('name/config:version')
  included. A prefix close to a registered one, before a path that is no TFDS version, is a
  misspelling: it is refused, naming the close matches."""
  prefix, colon, path = dataset.partition(':')
  if not colon:
    return None
  if prefix in prefixes or (registry.did_you_mean(prefix, prefixes)
                            and not _TFDS_VERSION.fullmatch(path)):
    return prefixes.get(prefix), path
  return None
