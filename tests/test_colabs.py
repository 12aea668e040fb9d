"""Every notebook in colabs/ runs top to bottom on this CPU (short training, BIG_UNI_COLAB_QUICK=1).

The notebooks check their figures' data themselves (attention rows sum to 1, and so on: asserts in
their cells), so an error output fails the test. The figures are saved as PNG files under
$BIG_UNI_FIGURES_DIR (default: the test's tmp_path) as <notebook>_<n>.png, to be looked at."""
import base64
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

from input_pipeline import builders, text_corpora
from tests.conftest import CI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Notebooks that read a Debian data package: (the path it installs, the install command). On a
# machine with pip only they skip with that hint; under CI=true they run (CI installs both).
NEEDS_DATA = {
    'clip_eval': (os.path.join(builders.FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'),
                  'apt-get install dataset-fashion-mnist'),
    'bert_mlm': (text_corpora.AUSTEN_DATA + '.rdb', 'apt-get install r-cran-janeaustenr'),
}
# Figures each notebook must show at least.
MIN_FIGURES = {'vit_mnist5k': 4, 'vit_inspect': 9, 'clip_eval': 5, 'bert_mlm': 5, 'results': 1}


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(ROOT, 'colabs', '*.ipynb'))),
                         ids=lambda path: os.path.basename(path).removesuffix('.ipynb'))
def test_notebook_runs(path, tmp_path, monkeypatch):
  name = os.path.basename(path).removesuffix('.ipynb')
  data_path, hint = NEEDS_DATA.get(name, (ROOT, ''))
  if not os.path.exists(data_path) and not CI:
    pytest.skip(f'{name} reads {data_path}: {hint}')
  monkeypatch.setenv('BIG_UNI_COLAB_EPOCHS', '1')
  monkeypatch.setenv('BIG_UNI_COLAB_QUICK', '1')
  notebook = nbformat.read(path, as_version=4)
  assert all(not cell.get('outputs') for cell in notebook.cells if cell.cell_type == 'code'), \
      'commit notebooks with their outputs cleared'
  NotebookClient(notebook, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': os.path.dirname(path)}}).execute()
  errors = [o for cell in notebook.cells if cell.cell_type == 'code'
            for o in cell.get('outputs', []) if o.get('output_type') == 'error']
  assert not errors, '\n'.join('\n'.join(e['traceback'][-3:]) for e in errors)
  images = [o['data']['image/png'] for cell in notebook.cells for o in cell.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  figures_dir = os.environ.get('BIG_UNI_FIGURES_DIR', str(tmp_path))
  os.makedirs(figures_dir, exist_ok=True)
  for index, image in enumerate(images):
    with open(os.path.join(figures_dir, f'{name}_{index}.png'), 'wb') as f:
      f.write(base64.b64decode(image))
  assert len(images) >= MIN_FIGURES.get(name, 1)
