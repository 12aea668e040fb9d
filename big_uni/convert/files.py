"""Reading and writing weight files: safetensors, PyTorch state dicts (never unpickled beyond
tensors), numpy .npz, and Hugging Face's config.json beside them."""
import json
import os

import numpy as np

from big_uni import errors

# In a folder, the first of these that exists is the weights file (HF and timm names).
WEIGHT_FILES = ('model.safetensors', 'open_clip_model.safetensors', 'pytorch_model.bin',
                'open_clip_pytorch_model.bin')


def weights_path(path: str) -> str:
  """`path` itself, or the weights file inside the folder `path`."""
  if os.path.isdir(path):
    for name in WEIGHT_FILES:
      if os.path.isfile(os.path.join(path, name)):
        return os.path.join(path, name)
    raise errors.UserInputError(f'{path} holds none of {WEIGHT_FILES}')
  if not os.path.isfile(path):
    raise errors.UserInputError(f'no weights file at {path!r}')
  return path


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """{key: float32-or-int numpy array} of a .safetensors, .npz or PyTorch (.pth/.pt/.bin) file.

  PyTorch files are read with `torch.load(weights_only=True)`, which refuses anything but tensors
  and plain containers (a pickle could run code); torch is needed for them only."""
  path = weights_path(path)
  if path.endswith('.safetensors'):
    from safetensors import SafetensorError, safe_open  # pylint: disable=g-import-not-at-top
    try:
      with safe_open(path, framework='numpy') as f:
        return {key: f.get_tensor(key) for key in f.keys()}
    except SafetensorError as e:
      raise errors.UserInputError(f'{path} is not a readable .safetensors file ({e}): give the '
                                  'weights file itself, downloaded again if it was cut off') from None
  if path.endswith('.npz'):
    with np.load(path, allow_pickle=False) as f:
      return dict(f)
  if path.endswith(('.pth', '.pt', '.bin')):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise errors.UserInputError(f'{path} is a PyTorch file: reading it needs torch (pip '
                                  'install torch), or convert it to .safetensors') from e
    try:
      state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pylint: disable=broad-except
      if 'Weights only load failed' not in str(e):  # torch's UnpicklingError for such files
        raise
      raise errors.UserInputError(
          f'{path} holds pickled objects other than tensors, which could run code as they load: '
          'big_uni does not load it. If you trust where it came from, convert it once to '
          '.safetensors with torch and safetensors.torch.save_file, on a machine where running '
          'its code is acceptable, and give that file') from None
    for key in ('state_dict', 'model'):  # Training checkpoints nest the weights.
      if isinstance(state, dict) and isinstance(state.get(key), dict):
        state = state[key]
    return {key.removeprefix('module.'): value.float().numpy()
            if value.is_floating_point() else value.numpy()
            for key, value in state.items() if isinstance(value, torch.Tensor)}
  raise errors.UserInputError(f'{path}: expected a .safetensors, .npz, .pth, .pt or .bin file')


def read_config(path: str, name: str) -> dict | None:
  """The JSON file `name` in the folder `path` or beside the file `path`, if there is one."""
  folder = path if os.path.isdir(path) else os.path.dirname(path)
  config_path = os.path.join(folder, name)
  if not os.path.isfile(config_path):
    return None
  with open(config_path) as f:
    return json.load(f)


def read_hf_config(path: str) -> dict | None:
  """The config.json in the folder `path` or beside the file `path` (HF's, timm's), if any."""
  return read_config(path, 'config.json')


def write_hf(folder: str, state: dict[str, np.ndarray], config: dict) -> None:
  """model.safetensors + config.json, as `transformers`' from_pretrained opens them."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  save_file(state, os.path.join(folder, 'model.safetensors'), metadata={'format': 'pt'})
  with open(os.path.join(folder, 'config.json'), 'w') as f:
    json.dump(config, f, indent=2, sort_keys=True)


def check_hf_config(theirs: dict | None, expected: dict, source: str) -> None:
  """Each `expected` field must have that value in their config.json (if there is one)."""
  if theirs is None:
    return
  wrong = {k: (theirs.get(k), v) for k, v in expected.items() if theirs.get(k, v) != v}
  if wrong:
    from big_uni.convert import layout  # pylint: disable=g-import-not-at-top
    raise layout.LayoutError(f'{source} does not match config.model: ' + ', '.join(
        f'{k} is {a} there, {b} here' for k, (a, b) in wrong.items()))
