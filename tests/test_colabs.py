"""Every notebook in colabs/ runs top to bottom on this CPU (short training)."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(ROOT, 'colabs', '*.ipynb'))))
def test_notebook_runs(path, tmp_path, monkeypatch):
  monkeypatch.setenv('BIG_UNI_COLAB_EPOCHS', '1')
  notebook = nbformat.read(path, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': os.path.dirname(path)}}).execute()
  errors = [o for cell in notebook.cells if cell.cell_type == 'code'
            for o in cell.get('outputs', []) if o.get('output_type') == 'error']
  assert not errors
  images = [o for cell in notebook.cells for o in cell.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert len(images) >= 4  # curves, digits, position embeddings, attention maps
