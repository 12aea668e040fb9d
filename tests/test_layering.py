"""The packages import downwards only: configs are data, the input pipeline is the lowest layer,
the tools sit on top.

  input_pipeline/  never imports big_uni, configs or benchmarks (big_uni imports it, never the
                   reverse);
  big_uni/         never imports configs (a config file is loaded by path, as main.py's --config)
                   or benchmarks;
  configs/         import only each other, ml_collections and the standard library;
  benchmarks/      the tools (benches, AOT tables, baselines) may import everything, and nothing
                   in the library imports them;
and the input pipeline imports TensorFlow only through input_pipeline/tf_cpu.py (which hides the
GPUs from it).

Every import is read with `ast`, wherever it stands (inside functions too), and so is a call of
importlib.import_module or __import__ whose module name begins with a literal.
"""
import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOLS = 'tools are not the library: benchmarks/ imports the library, never the reverse'
FORBIDDEN = {
    'input_pipeline': {'big_uni': 'the pipeline is the lowest layer',
                       'configs': 'the pipeline takes its settings as arguments',
                       'benchmarks': _TOOLS},
    'big_uni': {'configs': 'the library takes a config as data; main.py loads the file',
                'benchmarks': _TOOLS},
}
CONFIGS_MAY_IMPORT = {'configs', 'ml_collections', *sys.stdlib_module_names}


def _python_files(package: str) -> list[str]:
  return sorted(os.path.relpath(os.path.join(folder, name), ROOT)
                for folder, _, names in os.walk(os.path.join(ROOT, package))
                for name in names if name.endswith('.py'))


def _literal_prefix(node: ast.expr) -> str | None:
  """'configs.vit_b16' of a string, 'configs' of f'configs.{name}'; None where not a literal."""
  if isinstance(node, ast.Constant) and isinstance(node.value, str):
    return node.value
  if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
    return node.values[0].value.rstrip('.')
  return None


def imported_modules(source: str) -> list[tuple[int, str]]:
  """(line, absolute module name) of every import in `source`; relative imports stay inside their
  own package and are left out."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and not node.level:
      found.append((node.lineno, node.module))
    elif isinstance(node, ast.Call) and node.args:
      function = node.func
      name = function.attr if isinstance(function, ast.Attribute) else getattr(function, 'id', '')
      prefix = _literal_prefix(node.args[0])
      if name in ('import_module', '__import__') and prefix:
        found.append((node.lineno, prefix))
  return sorted(found)


def violations(package: str, files: list[str]) -> list[str]:
  problems = []
  for path in files:
    with open(os.path.join(ROOT, path)) as f:
      imports = imported_modules(f.read())
    for line, module in imports:
      top = module.split('.')[0]
      if package == 'configs' and top not in CONFIGS_MAY_IMPORT:
        problems.append(f'{path}:{line}: imports {module} (configs are data: they import only '
                        'configs, ml_collections and the standard library)')
      elif top in FORBIDDEN.get(package, {}):
        problems.append(f'{path}:{line}: imports {module} ({FORBIDDEN[package][top]})')
  return problems


@pytest.mark.parametrize('package', ['input_pipeline', 'big_uni', 'configs'])
def test_no_import_runs_up_a_layer(package):
  files = _python_files(package)
  assert files
  problems = violations(package, files)
  assert not problems, '\n'.join(problems)


def test_the_library_importing_a_tool_is_refused(tmp_path):
  uses_a_tool = tmp_path / 'uses_a_tool.py'
  uses_a_tool.write_text('def f():\n  from benchmarks import bench\n')
  for package in ('big_uni', 'input_pipeline'):
    assert violations(package, [str(uses_a_tool)]) == [
        f'{uses_a_tool}:2: imports benchmarks ({_TOOLS})']


def test_benchmarks_live_beside_the_library_not_in_it():
  in_library = [path for package in ('big_uni', 'input_pipeline')
                for path in _python_files(package) if 'bench' in os.path.basename(path)]
  assert not in_library, f'tools belong in benchmarks/: {in_library}'


@pytest.mark.parametrize('path', _python_files('input_pipeline'))
def test_tensorflow_only_through_tf_cpu(path):
  with open(os.path.join(ROOT, path)) as f:
    imports = [module for _, module in imported_modules(f.read())]
  if os.path.basename(path) != 'tf_cpu.py':
    direct = [n for n in imports if n.split('.')[0] in ('tensorflow', 'tensorflow_datasets')]
    assert not direct, f'import {direct} through input_pipeline.tf_cpu (it hides GPUs from TF)'


def test_every_kind_of_import_is_read():
  source = ('import configs.vit_b16\n'
            'def f(name):\n'
            '  from big_uni.models import vit\n'
            '  importlib.import_module(f"configs.{name}")\n'
            '  __import__("input_pipeline")\n'
            '  from . import sibling\n')
  assert imported_modules(source) == [(1, 'configs.vit_b16'), (3, 'big_uni.models'),
                                      (4, 'configs'), (5, 'input_pipeline')]
