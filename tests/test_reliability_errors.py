"""Faults and bad input: non-finite steps, a full disk, an unwritable workdir, config mistakes,
missing or corrupt data, untrusted files. Each gives one message naming the cause and the fix."""
import errno
import importlib.util
import io
import json
import logging as std_logging
import os
import pickle
import re
import sys

import jax
import ml_collections
import numpy as np
import pytest
from orbax.checkpoint._src.serialization import serialization
from PIL import Image

import input_pipeline
import reliability_runs as runs
from big_uni import checkpoint, errors, pretrained, train
from big_uni.convert import dinov2_onnx, files, hf_bert
from big_uni.tasks import classification
from configs import common, vit_mnist5k
from input_pipeline import caption_sources as captions
from input_pipeline import tokenizers


def _synthetic_config(**overrides):
  config = vit_mnist5k.get_config('smoke')
  config.input.update(dict(dataset='synthetic', eval_examples=128))
  config.update(overrides)
  return config


def _saved_state(workdir, config, step):
  """A checkpoint of the freshly initialised state at `step`, without training."""
  trainer = train.Trainer(config)
  saver = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), every_steps=1, keep=3)
  state = trainer.init_state()
  saver.save(step, state.replace(step=jax.numpy.int32(step)))
  saver.close()
  return trainer, state


def _nan_gradients(monkeypatch):
  """From now on the loss stays finite and every gradient is NaN (d sqrt(x) / dx at 0 is inf,
  times 0)."""
  loss_and_metrics = classification.ClassificationTask.loss_and_metrics

  def with_nan_gradients(self, params, batch, rng):
    loss, metrics = loss_and_metrics(self, params, batch, rng)
    bias = params['head']['bias'][0]
    return loss + 0.0 * jax.numpy.sqrt(bias - bias), metrics

  monkeypatch.setattr(classification.ClassificationTask, 'loss_and_metrics', with_nan_gradients)


def test_non_finite_gradient_stops_naming_the_first_bad_step_and_metric(tmp_path, monkeypatch):
  config = _synthetic_config(total_steps=8, log_every_steps=4, checkpoint_every_steps=4)
  _saved_state(tmp_path, config, step=4)
  _nan_gradients(monkeypatch)
  # Step 5 is the first bad one; it is found at step 8 (no host sync in between) and nothing is
  # saved over the checkpoint of step 4.
  with pytest.raises(errors.NonFiniteError, match=r'non-finite grad_norm \(nan\) at step 5; '
                     r'nothing after it was saved \(last checkpoint: step 4\)'):
    train.train_and_evaluate(config, str(tmp_path))
  assert runs.committed_steps(tmp_path) == [4]


def test_skip_nonfinite_steps_keeps_params_and_counts_skips(tmp_path, monkeypatch):
  config = _synthetic_config(total_steps=6, log_every_steps=3, checkpoint_every_steps=3,
                             skip_nonfinite_steps=True)
  initial = jax.device_get(train.Trainer(config).init_state())
  _nan_gradients(monkeypatch)
  train.train_and_evaluate(config, str(tmp_path))
  trainer = train.Trainer(config)
  saver = checkpoint.Checkpointer(str(tmp_path / 'checkpoints'), every_steps=1, keep=3)
  final = jax.device_get(saver.restore(trainer.abstract_state))
  saver.close()
  assert int(final.step) == 6  # Every step ran (and spent its batch) ...
  # ... and none changed the params or the optimizer state (Adam's count included).
  jax.tree.map(np.testing.assert_array_equal, (initial.params, initial.opt_state),
               (final.params, final.opt_state))
  rows = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['skipped_steps'] for r in rows if 'skipped_steps' in r] == [3.0, 3.0]


@pytest.mark.parametrize('disk_full', [
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    # What TensorStore raises (seen on a full 300 KiB tmpfs).
    ValueError('RESOURCE_EXHAUSTED: Error writing "params.head.bias/0" in OCDBT database: '
               'Failed to write 53917 bytes to file 7: No space left on device '
               "[os_error_code='28']")])
def test_disk_full_during_save_says_so_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch,
                                                                         disk_full):
  """The array writes of the second save fail in orbax's background thread, as on a full disk.
  With checkpoint_keep=1 a save that deleted the old checkpoint first would leave nothing."""
  config = _synthetic_config(total_steps=4, checkpoint_every_steps=2, checkpoint_keep=1)
  write = serialization.async_serialize_from_host

  async def write_until_the_disk_is_full(*args, **kwargs):
    if runs.committed_steps(tmp_path):
      raise disk_full
    return await write(*args, **kwargs)

  monkeypatch.setattr(serialization, 'async_serialize_from_host', write_until_the_disk_is_full)
  with pytest.raises(errors.DiskFullError, match=r'the disk is full .* step 4 .* step 2, is kept'):
    train.train_and_evaluate(config, str(tmp_path))
  assert runs.committed_steps(tmp_path) == [2]


def test_disk_full_logs_of_orbax_and_asyncio_are_dropped_others_kept(tmp_path, caplog):
  """A full disk fails every array write of a save; asyncio logs each failure after the first
  as 'Task exception was never retrieved' (seen in CI on a 1 MiB tmpfs). Those records go; the
  run's DiskFullError says it once. Other asyncio errors still reach the log."""
  checkpoint.Checkpointer(str(tmp_path / 'checkpoints'), every_steps=1, keep=1).close()
  failed = ("Task exception was never retrieved\nfuture: <Task finished exception=ValueError("
            "'RESOURCE_EXHAUSTED: Failed to write 34967 bytes to file 4: No space left on device"
            "')>")
  asyncio_logger = std_logging.getLogger('asyncio')
  with caplog.at_level(std_logging.ERROR):
    asyncio_logger.error(failed)
    asyncio_logger.error('Task exception was never retrieved\nfuture: <Task exception=KeyError(1)>')
  assert [r.getMessage().splitlines()[-1] for r in caplog.records] == [
      'future: <Task exception=KeyError(1)>']


_ECHOES_OF_A_FAILED_SAVE = """
import asyncio, sys
from big_uni import checkpoint
checkpoint.Checkpointer(sys.argv[1], every_steps=1, keep=1).close()
loop = asyncio.new_event_loop()
loop.close()

class Completion:  # A callback the interpreter cannot raise from: its errors are unraisable.
  def __init__(self, callback):
    self.callback = callback
  def __del__(self):
    self.callback()

Completion(lambda: loop.call_soon_threadsafe(print))
Completion(lambda: {}['unrelated'])
"""


def test_closed_event_loop_echoes_of_a_failed_save_are_dropped_others_kept(tmp_path):
  """After a failed save, TensorStore completes the abandoned writes into orbax's closed event
  loop: one unraisable 'Event loop is closed' each (seen on a real full disk). Those go; an
  unraisable exception of any other kind is still printed. In a process of its own: pytest
  replaces sys.unraisablehook around each test."""
  out = runs.run([sys.executable, '-c', _ECHOES_OF_A_FAILED_SAVE, str(tmp_path / 'checkpoints')])
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'Event loop is closed' not in out.stderr, out.stderr[-2000:]
  assert "KeyError: 'unrelated'" in out.stderr, out.stderr[-2000:]


def test_unwritable_workdir_is_named_before_any_work(tmp_path):
  if os.geteuid() == 0:  # Permission bits do not stop root; sysfs refuses new directories.
    workdir = '/sys/big_uni_workdir'
  else:
    os.chmod(tmp_path, 0o500)
    workdir = str(tmp_path / 'run')
  with pytest.raises(errors.UserInputError, match=f'--workdir={workdir} is not writable'):
    train.train_and_evaluate(_synthetic_config(), workdir)


def _cli(tmp_path, *args, **env):
  out = runs.run(runs.command(tmp_path, *args), **env)
  assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
  assert 'Traceback' not in out.stderr
  return out.stderr.strip().splitlines()[-1]


def test_unknown_config_key_lists_close_matches(tmp_path):
  message = _cli(tmp_path, 'configs/vit_mnist5k.py:smoke', '--config.optimizer.lrr=0.1')
  assert message == ('error: unknown config key --config.optimizer.lrr (configs/vit_mnist5k.py:'
                     'smoke has no such field): did you mean --config.optimizer.lr?')


def test_wrong_value_type_names_the_key_and_its_type(tmp_path):
  message = _cli(tmp_path, 'configs/vit_mnist5k.py:smoke', '--config.optimizer.lr=abc')
  assert message.startswith("error: --config.optimizer.lr=abc: could not convert string to "
                            "float: 'abc'. config.optimizer.lr is a float")
  assert message.endswith('e.g. --config.optimizer.lr=0.001')


def test_checkpoint_of_another_model_names_the_param_and_both_shapes(tmp_path):
  config = _synthetic_config()
  _saved_state(tmp_path, config, step=2)
  (tmp_path / 'config.json').write_text(config.to_json_best_effort())
  wider = _synthetic_config()
  wider.model.update(dict(width=48, num_heads=3))
  with pytest.raises(errors.UserInputError, match=re.escape(
      'does not fit config.model: param encoder/block00/attention/key_bias has shape (2, 16) '
      'in the checkpoint and (3, 16) in the model')):
    train.train_and_evaluate(wider, str(tmp_path))
  # The run's own config.json still describes its checkpoints.
  assert '"width": 32' in (tmp_path / 'config.json').read_text()


def test_image_size_not_divisible_by_patch_size():
  config = _synthetic_config()
  config.input.image_size = 10
  with pytest.raises(errors.UserInputError, match='image size 10x10 is not divisible by patch '
                     'size 4: change input.image_size or model.variant'):
    train.Trainer(config)


def test_batch_not_divisible_by_the_devices(tmp_path):
  message = _cli(tmp_path, 'configs/vit_mnist5k.py:smoke', '--config.input.dataset=synthetic',
                 '--config.input.batch_size=36',
                 XLA_FLAGS='--xla_force_host_platform_device_count=8')
  assert message == ('error: input.batch_size=36 is not divisible by the 8 devices the batch is '
                     'split over (mesh data=8 x fsdp=1): use a multiple of 8, e.g. 32 or 40')


def _images(root, split, counts, size=(12, 10)):
  rng = np.random.default_rng(0)
  for name, count in counts.items():
    os.makedirs(root / split / name, exist_ok=True)
    for i in range(count):
      Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
          root / split / name / f'{i}.png')


def _folder_input(root, **overrides):
  config = common.smoke(common.base()).input
  config.update(dict(dataset=f'image_folder:{root}', image_size=8, channels=3, mean=(0.5,) * 3,
                     std=(0.5,) * 3))
  config.update(overrides)
  return config


@pytest.mark.parametrize('layout,split,message', [
    ('none', 'train', r"image folder '.*/data' does not exist: check the path"),
    ('train', 'validation', r"has no split 'validation'; available: \['train'\]: set "
                            r'input.train_split / input.eval_split'),
    ('empty', 'train', r'no .jpg/.jpeg/.png images under .*/train/<class>/: add images'),
    ('tfds', 'train', r"unknown dataset 'cifar1O': .* Did you mean cifar10")])
def test_missing_or_empty_dataset_or_split(tmp_path, layout, split, message):
  root = tmp_path / 'data'
  if layout == 'train':
    _images(root, 'train', {'cat': 1})
  if layout == 'empty':
    os.makedirs(root / 'train' / 'cat')
  config = _folder_input(root, dataset='cifar1O') if layout == 'tfds' else _folder_input(root)
  with pytest.raises(errors.UserInputError, match=message):
    input_pipeline.num_examples(config, split)


def _corrupt_folder(root):
  _images(root, 'train', {'cat': 3, 'dog': 3})
  png = io.BytesIO()
  Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(png, format='PNG')
  (root / 'train' / 'dog' / 'truncated.png').write_bytes(png.getvalue()[:40])
  (root / 'train' / 'cat' / 'not_an_image.jpg').write_bytes(b'these bytes are no JPEG')


def test_corrupt_image_fails_naming_the_file(tmp_path):
  _corrupt_folder(tmp_path)
  with pytest.raises(errors.UserInputError, match=r'corrupt image .*/train/cat/not_an_image.jpg '
                     r'\(2 of the 8 images .*on_corrupt_image=skip'):
    input_pipeline.num_examples(_folder_input(tmp_path), 'train')


def test_corrupt_images_skipped_and_counted(tmp_path, caplog):
  _corrupt_folder(tmp_path)
  config = _folder_input(tmp_path, on_corrupt_image='skip')
  assert input_pipeline.num_examples(config, 'train') == 6
  assert 'skipped 2 of the 8 images' in caplog.text
  batches = input_pipeline.get_iterator(config, 'train', train=False, global_batch_size=4,
                                        seed=0)
  assert sum(int(b['mask'].sum()) for b in batches) == 6


def test_tokenizer_and_model_vocab_sizes_must_agree(tmp_path):
  message = _cli(tmp_path, 'configs/bert_austen.py:smoke', '--config.model.vocab_size=999')
  assert re.fullmatch(r'error: the tokenizer \(sentencepiece, trained on python_help\) has 1000 '
                      r'tokens but the model has vocab_size=999: set it to 1000 or use the '
                      r'matching tokenizer', message)


def test_no_pickle_loading_anywhere():
  """Checkpoints are orbax (JSON + TensorStore), weights safetensors/ONNX/npz, data TFDS/text:
  no code path may unpickle (pickle, joblib, torch.load unless weights_only=True, np.load
  unless allow_pickle=False)."""
  banned = re.compile(r'\bimport (c?pickle|dill|joblib|cloudpickle)\b|pickle\.loads?\(|'
                      r'allow_pickle\s*=\s*True|weights_only\s*=\s*False|read_pickle\(|'
                      r'torch\.load\((?!.*weights_only=True)')
  offenders = []
  for package in ('big_uni', 'input_pipeline', 'configs'):
    for folder, _, names in os.walk(os.path.join(runs.ROOT, package)):
      for name in (n for n in names if n.endswith('.py')):
        path = os.path.join(folder, name)
        with open(path) as f:
          offenders += [f'{path}: {line.strip()}' for line in f
                        if banned.search(line) or ('np.load(' in line
                                                   and 'allow_pickle=False' not in line)]
  assert not offenders


class _RunsCode:
  """Unpickling this creates the file `path`: proof that a loader ran the payload."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (self.path, 'w'))


def test_malicious_pickles_are_refused_and_never_run(tmp_path):
  marker = tmp_path / 'payload_ran'
  payload = pickle.dumps(_RunsCode(str(marker)))
  np.save(tmp_path / 'object_array.npy', np.array([_RunsCode(str(marker))], dtype=object))
  with pytest.raises(ValueError, match='allow_pickle=False'):
    np.load(tmp_path / 'object_array.npy')  # numpy's default, which the codebase relies on

  config = _synthetic_config()
  workdir = tmp_path / 'run'
  _saved_state(workdir, config, step=2)
  step_dir = workdir / 'checkpoints' / '2'
  for path in [step_dir / 'state' / '_METADATA', step_dir / 'state' / 'manifest.ocdbt',
               *(step_dir / 'checksums').iterdir()]:
    path.write_bytes(payload)
  with pytest.raises(errors.UserInputError, match='no checkpoint .* reads back intact'):
    train.train_and_evaluate(config, str(workdir))

  (tmp_path / 'model.safetensors').write_bytes(payload)
  with pytest.raises(Exception):
    hf_bert.load(str(tmp_path / 'model.safetensors'), None)
  with pytest.raises(Exception):
    dinov2_onnx.load(str(tmp_path / 'model.safetensors'))
  if importlib.util.find_spec('torch') is not None:  # .pth files are read by torch only.
    (tmp_path / 'model.pth').write_bytes(payload)
    with pytest.raises(errors.UserInputError, match='holds pickled objects other than tensors, '
                       'which could run code as they load: big_uni does not load it'):
      files.read_state_dict(str(tmp_path / 'model.pth'))
  with pytest.raises(Exception):
    tokenizers.Tokenizer.sentencepiece(str(tmp_path / 'model.safetensors'))
  with pytest.raises(Exception):
    pretrained.load_source(ml_collections.ConfigDict(dict(kind='checkpoint', path=str(workdir))),
                           config.model)
  assert not marker.exists()


def test_an_unknown_tfds_name_is_refused_without_asking_tfds(tmp_path, monkeypatch):
  """tfds.builder looks for an unknown name among GCS's community datasets: offline that took
  155 s of retries before the same message."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  def builder(*args, **kwargs):
    raise AssertionError(f'tfds.builder{args} was asked')

  monkeypatch.setattr(tfds, 'builder', builder)
  config = _folder_input(tmp_path, dataset='fashon_mnist', data_dir=str(tmp_path))
  with pytest.raises(errors.UserInputError, match="unknown dataset 'fashon_mnist'.*fashion_mnist"):
    input_pipeline.num_examples(config, 'train')


def _tsv_with_bad_images(root):
  _images(root, 'train', {'cat': 3})
  (root / 'train' / 'cat' / 'broken.jpg').write_bytes(b'these bytes are no JPEG')
  lines = [f'train/cat/{i}.png\ta cat' for i in range(3)]
  lines += ['train/cat/broken.jpg\ta broken cat', 'train/cat/gone.png\ta cat that left']
  (root / 'train.tsv').write_text('\n'.join(lines) + '\n')


def test_captions_tsv_missing_image_is_named_with_its_line(tmp_path):
  _tsv_with_bad_images(tmp_path)
  with pytest.raises(errors.UserInputError, match=r'missing image .*/train/cat/gone.png \(listed '
                     r'at .*/train.tsv:5; 1 of the 5 images are missing\).*on_corrupt_image=skip'):
    captions.TsvSource(f'{tmp_path}/{{split}}.tsv').num_examples('train')


def test_captions_tsv_corrupt_image_is_named_or_skipped(tmp_path, caplog):
  _tsv_with_bad_images(tmp_path)
  (tmp_path / 'train' / 'cat' / 'gone.png').write_bytes((tmp_path / 'train' / 'cat' / '0.png')
                                                         .read_bytes())
  with pytest.raises(errors.UserInputError, match=r'corrupt image .*/train/cat/broken.jpg '
                     r'\(1 of the 5 images of .*train.tsv do not decode\)'):
    captions.TsvSource(f'{tmp_path}/{{split}}.tsv').num_examples('train')
  (tmp_path / 'train' / 'cat' / 'gone.png').unlink()
  assert captions.TsvSource(f'{tmp_path}/{{split}}.tsv', 'skip').num_examples('train') == 3
  assert 'skipped 2 of the 5 images' in caplog.text
