"""The data layer's shape: input_pipeline never imports big_uni, and TensorFlow only through
input_pipeline/tf_cpu.py (which hides the GPUs from it)."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'input_pipeline'


def _imports(path: pathlib.Path) -> list[str]:
  names = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.append(node.module)
  return names


@pytest.mark.parametrize('path', sorted(PACKAGE.glob('*.py')), ids=lambda p: p.name)
def test_module_imports_follow_the_layering(path):
  imports = _imports(path)
  assert not [n for n in imports if n.split('.')[0] == 'big_uni'], 'the data layer imports big_uni'
  if path.name != 'tf_cpu.py':
    direct = [n for n in imports if n.split('.')[0] in ('tensorflow', 'tensorflow_datasets')]
    assert not direct, f'import {direct} through input_pipeline.tf_cpu (it hides GPUs from TF)'
