"""The one Registry every config name is looked up in (input_pipeline/registry.py)."""
import pytest

from input_pipeline import errors
from input_pipeline.registry import Registry


def test_register_get_and_names():
  registry = Registry('widget')

  @registry.register('round')
  def round_widget():
    return 'round'

  registry.register('square', 'a square')
  assert registry.get('round') is round_widget
  assert registry.get('square') == 'a square'
  assert registry.names() == ['round', 'square'] == list(registry)
  assert 'round' in registry and 'oval' not in registry


def test_an_unknown_name_is_refused_naming_the_close_matches():
  registry = Registry('widget')
  registry.register('linear_probe', 1)
  registry.register('knn', 2)
  with pytest.raises(errors.UserInputError,
                     match=r"widget 'KNN' is not registered \(did you mean 'knn'\? known: "
                           r"\['knn', 'linear_probe'\]\)"):
    registry.get('KNN')
  with pytest.raises(errors.UserInputError, match=r"'zzz' is not registered \(known: "):
    registry.get('zzz')


def test_a_name_registered_twice_is_refused():
  registry = Registry('widget')
  registry.register('a', 1)
  with pytest.raises(ValueError, match="widget 'a' is registered twice"):
    registry.register('a', 2)


def test_load_runs_once_before_the_first_lookup():
  calls = []
  registry = Registry('widget', load=lambda: calls.append(registry.register('late', 3)))
  assert not calls
  assert registry.get('late') == 3 and registry.names() == ['late']
  assert len(calls) == 1


def test_every_config_kind_is_one_registry():
  # pylint: disable=g-import-not-at-top
  import input_pipeline
  from big_uni import models, optim, pretrained, tasks
  from big_uni.evaluators import kinds as evaluation_kinds
  # pylint: enable=g-import-not-at-top
  for kinds in (models.MODELS, tasks.TASKS, evaluation_kinds.registry.KINDS, pretrained.KINDS,
                optim.OPTIMIZERS, input_pipeline.KINDS):
    assert isinstance(kinds, Registry) and kinds.names()


def test_a_package_of_entries_imports_each_module_but_private_ones(tmp_path, monkeypatch):
  """A new task, evaluation kind or tokenizer is one new module: its package imports them all
  (not `__main__`, which would run a command, nor other `_` modules)."""
  package = tmp_path / 'plugins'
  package.mkdir()
  (package / '__init__.py').write_text(
      'from input_pipeline import registry\nregistry.import_submodules(__name__)\n')
  for name in ('first', 'second', '_private', '__main__'):
    (package / f'{name}.py').write_text('import sys\nsys.modules[__name__].imported = True\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  import plugins  # pylint: disable=g-import-not-at-top,import-error
  assert hasattr(plugins, 'first') and hasattr(plugins, 'second')
  assert not hasattr(plugins, '_private') and not hasattr(plugins, '__main__')
