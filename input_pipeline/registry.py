"""One small registry: a name in a config -> the code it names.

Model families, tasks, evaluation kinds, init kinds, optimizers and input pipelines are each one
`Registry`. An entry registers itself beside its code:

  TASKS = Registry('task')

  @TASKS.register('classification')
  class ClassificationTask: ...

and a name the config gives is looked up with `get`, which refuses an unknown name with a
UserInputError naming the close matches. It lives in the data layer, the lowest one, so that
input_pipeline and big_uni share it (big_uni imports input_pipeline, never the reverse).
"""
import difflib
import importlib
import pkgutil
from typing import Any, Callable, Iterator

from input_pipeline import errors


class Registry:
  """Names -> objects. `load`, if given, is called once before the first lookup of a name not yet
  registered: it imports the modules whose entries register themselves (so listing the names
  needs no import order)."""

  def __init__(self, what: str, load: Callable[[], Any] | None = None):
    self.what = what  # What a name names, for messages: 'model', 'evaluation kind'.
    self._entries: dict[str, Any] = {}
    self._load = load

  def register(self, name: str, value: Any = None):
    """`register(name, value)` adds `value`; `@register(name)` adds the decorated object and
    returns it unchanged. A name registered twice is a bug, refused."""
    def add(entry):
      if name in self._entries:
        raise ValueError(f'{self.what} {name!r} is registered twice')
      self._entries[name] = entry
      return entry
    return add if value is None else add(value)

  def _loaded(self) -> dict[str, Any]:
    if self._load is not None:
      load, self._load = self._load, None
      load()
    return self._entries

  def names(self) -> list[str]:
    """Every registered name, sorted."""
    return sorted(self._loaded())

  def get(self, name: str) -> Any:
    """The entry of `name`; an unknown name is refused naming the close matches. A name already
    registered is found without `load` (which may import what its user does not need)."""
    if name in self._entries:
      return self._entries[name]
    entries = self._loaded()
    if name not in entries:
      raise errors.UserInputError(f'{self.what} {name!r} is not registered '
                                  f'({did_you_mean(name, entries)}known: {self.names()})')
    return entries[name]

  def items(self) -> list[tuple[str, Any]]:
    return sorted(self._loaded().items())

  def __contains__(self, name) -> bool:
    return name in self._loaded()

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())

  def __repr__(self) -> str:
    return f'Registry({self.what!r}: {self.names()})'


def import_submodules(package: str) -> None:
  """Imports every module of `package` whose name does not start with '_' (so not a
  `__main__`): the package of a registry's entries calls it, so that a new entry is one new
  module, registered beside its code, and no list of modules to keep."""
  path = importlib.import_module(package).__path__
  for module in pkgutil.iter_modules(path):
    if not module.name.startswith('_'):
      importlib.import_module(f'{package}.{module.name}')


def did_you_mean(name, known) -> str:
  """"did you mean 'knn'? " of the names in `known` close to `name` (case aside), or ''."""
  lower = {k.lower(): k for k in known}
  close = [lower[m] for m in difflib.get_close_matches(str(name).lower(), sorted(lower), n=3,
                                                       cutoff=0.6)]
  return f'did you mean {" or ".join(map(repr, close))}? ' if close else ''
