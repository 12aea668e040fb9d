"""wheel_files: a data file read out of a wheel that was not installed."""
import os
import zipfile

from input_pipeline import wheel_files


def test_a_wheel_listing_its_folders_extracts_the_files_of_one(tmp_path):
  """Wheels such as statsmodels' list 'pkg/data/' itself among their entries."""
  downloads = tmp_path / 'downloads'
  downloads.mkdir()
  with zipfile.ZipFile(downloads / 'nopkg_tabular-1.0-py3-none-any.whl', 'w') as wheel:
    wheel.writestr('nopkg_tabular/data/', '')
    wheel.writestr('nopkg_tabular/data/table.csv', 'a,b\n1,2\n')
    wheel.writestr('nopkg_tabular/data/sub/other.csv', 'c\n3\n')
  path = wheel_files.wheel_file('nopkg-tabular==1.0', 'nopkg_tabular/data/table.csv',
                                cache_dir=str(tmp_path))
  with open(path) as f:
    assert f.read() == 'a,b\n1,2\n'
  assert sorted(os.listdir(os.path.dirname(path))) == ['.complete', 'table.csv']
