"""`--config.x=y` overrides: of every field the schema declares, whether or not the config file
sets it, with clear messages for bad ones: unknown keys with their closest matches, and values
that do not parse as the key's type (ml_collections raises a traceback or a bare error)."""
import difflib
import re

from absl import flags
import ml_collections

from big_uni import config_schema


class ConfigFileParser(flags.ArgumentParser):
  """Loads a config file with ml_collections' `file_parser`, then adds the fields that the
  overrides in `argv` name, the file leaves out and the schema declares, with their defaults:
  ml_collections overrides only fields the config has, and a file sets only what differs from
  the schema."""

  def __init__(self, file_parser: flags.ArgumentParser, argv: list[str]):
    self._file_parser = file_parser
    self._keys = _override_keys(argv)

  def parse(self, argument):
    config = self._file_parser.parse(argument)
    if isinstance(config, ml_collections.ConfigDict):
      declare(config, self._keys)
    return config

  def flag_type(self):
    return self._file_parser.flag_type()


def declare(config: ml_collections.ConfigDict, keys: list[str]) -> None:
  """Adds each dotted key of `keys` that `config` lacks and the schema declares, with its
  default (a None default as a placeholder of any type, which an override may set). Only these:
  the other defaults are filled after the overrides apply, so that a default that follows
  another field (eval_batch_size follows batch_size) follows its overridden value."""
  declared = config_schema.complete(config.copy_and_resolve_references())
  with config.unlocked():
    for key in keys:
      node, source = config, declared
      for part in key.split('.'):
        if not (isinstance(node, ml_collections.ConfigDict) and _is_section(source)
                and part in source):
          break
        if part not in node:
          default = source[part]
          node[part] = (ml_collections.config_dict.placeholder(object) if default is None
                        else default)
          break
        node, source = node[part], source[part]


def _is_section(value) -> bool:
  return isinstance(value, (dict, ml_collections.ConfigDict))


def explain(argv: list[str], error: Exception, config_flag) -> str:
  """One line naming the bad override and the fix; `config_flag` (the --config flag) reloads the
  config file to look the keys up. Other flag errors keep absl's message."""
  path = _config_path(argv)
  if path is None:
    return str(error)
  refused = re.search(r'Error whilst parsing config file:.*\nValueError: ([^\n]*)\s*$', str(error),
                      re.DOTALL)
  if refused:  # get_config refused its argument (common.parse_arg): its message, not its trace.
    return f'--config={path}: {refused[1]}'
  # Completed: a misspelt key's close matches include the fields the file leaves out.
  config = config_schema.complete(config_flag.parser.parse(path))
  for key in _override_keys(argv):
    if not _has_key(config, key):
      return _unknown_key(config, key, path)
  # absl's message for a value that does not parse: 'flag --config.<key>=<value>: <why>'.
  bad_value = re.search(r'flag --config\.([\w.]+)=(.*?): (.*)', str(error))
  if bad_value and _has_key(config, bad_value[1]):
    key, value, why = bad_value.groups()
    default = _get(config, key)
    if isinstance(default, ml_collections.ConfigDict):
      field, example = next(iter(default.items()))
      return (f'--config.{key}={value}: config.{key} is a section of the config: set its fields '
              f'one by one, e.g. --config.{key}.{field}={example!r}')
    return (f'--config.{key}={value}: {why}. config.{key} is a {type(default).__name__} ({path} '
            f'has {default!r}): pass a value of that type, e.g. --config.{key}={default!r}')
  return str(error)


def _unknown_key(config, key: str, path: str) -> str:
  parent, _, name = key.rpartition('.')
  if not parent or _has_key(config, parent):  # A misspelt field of a known section.
    section = _get(config, parent) if parent else config
    if not isinstance(section, ml_collections.ConfigDict):
      return (f'--config.{key}: config.{parent} is a {type(section).__name__}, not a section '
              f'of the config: set it with --config.{parent}=...')
    fields = sorted(section.keys())
    close = [f'{parent}.{field}' if parent else field
             for field in difflib.get_close_matches(name, fields, n=3, cutoff=0.6)]
    listing = f'{"config." + parent if parent else "the config"} has: {", ".join(fields)}'
  else:  # A misspelt section: compare whole keys.
    same_depth = [k for k in _keys(config) if k.count('.') == key.count('.')]
    close = difflib.get_close_matches(key, same_depth, n=3, cutoff=0.8)
    listing = f'the config has: {", ".join(sorted(config.keys()))}'
  hint = ('did you mean ' + ' or '.join(f'--config.{k}' for k in close) + '?') if close else listing
  return f'unknown config key --config.{key} ({path} has no such field): {hint}'


def _config_path(argv: list[str]) -> str | None:
  for i, arg in enumerate(argv):
    if re.match(r'^--?config(=|$)', arg):
      return arg.split('=', 1)[1] if '=' in arg else (argv[i + 1] if i + 1 < len(argv) else None)
  return None


def _override_keys(argv: list[str]) -> list[str]:
  return [re.sub(r'^--?(no)?config\.', '', arg).split('=', 1)[0]
          for arg in argv if re.match(r'^--?(no)?config\.', arg)]


def _keys(config, prefix: str = ''):
  """Every dotted key of `config`, sections as well as leaves."""
  for name, value in config.items():
    yield prefix + name
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      yield from _keys(value, f'{prefix}{name}.')


def _has_key(config, key: str) -> bool:
  node = config
  for part in key.split('.'):
    if not isinstance(node, (dict, ml_collections.ConfigDict)) or part not in node:
      return False
    node = node[part]
  return True


def _get(config, key: str):
  for part in key.split('.'):
    config = config[part]
  return config
