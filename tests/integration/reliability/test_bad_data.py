"""Bad data, of each source kind, given to a run (a real process): a missing folder, split or
file; an empty folder; a misspelled TFDS name; corrupt images (stop naming the file, or skip and
count them); more classes than the model has; a corpus too small for its validation split; a
tokenizer of another size. Each ends in one `error:` line naming the cause, before the workdir is
touched (the ViT cases run against a copy of the stopped run's workdir)."""
import io

import numpy as np
import pytest
from PIL import Image

from tests.helpers import faults
import input_pipeline
from big_uni import errors
from configs import common

CLIP = ('configs/clip_b16.py:smoke',)
BERT = ('configs/bert_austen.py:smoke',)


def _images(root, split, counts, size=(12, 10)):
  rng = np.random.default_rng(0)
  for name, count in counts.items():
    (root / split / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
      Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
          root / split / name / f'{i}.png')


def _corrupt_images(root):
  """3 cats and 3 dogs per split; among the training images also a cut-off PNG and bytes that
  are no JPEG."""
  for split in ('train', 'test'):
    _images(root, split, {'cat': 3, 'dog': 3})
  png = io.BytesIO()
  Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(png, format='PNG')
  (root / 'train' / 'dog' / 'truncated.png').write_bytes(png.getvalue()[:40])
  (root / 'train' / 'cat' / 'not_an_image.jpg').write_bytes(b'these bytes are no JPEG')


def _folder(root, case):
  if case == 'train only':
    _images(root, 'train', {'cat': 1})
  elif case == 'an empty class':
    _images(root, 'test', {'cat': 1})
    (root / 'train' / 'cat').mkdir(parents=True)
  elif case == 'corrupt':
    _corrupt_images(root)
  elif case == '12 classes':
    for split in ('train', 'test'):
      _images(root, split, {f'class{label:02d}': 1 for label in range(12)})


FOLDERS = {
    'missing': r"image folder '.*/data' does not exist: check the path",
    'train only': r"has no split 'test'; available: \['train'\]: set input.train_split / "
                  r'input.eval_split',
    'an empty class': r'no .jpg/.jpeg/.png images under .*/train/<class>/: add images',
    'corrupt': r'corrupt image .*/train/cat/not_an_image.jpg \(2 of the 8 images .*'
               r'on_corrupt_image=skip',
    '12 classes': r'has 12 classes but model.num_classes=10: set model.num_classes=12',
}


@pytest.mark.parametrize('case', FOLDERS)
def test_an_image_folder(tmp_path, stopped_run, case):
  workdir, before = stopped_run
  _folder(tmp_path / 'data', case)
  out = faults.main(workdir, *faults.VIT, f'--config.input.dataset=image_folder:{tmp_path}/data')
  faults.assert_refused_untouched(out, FOLDERS[case], workdir, before)


def test_corrupt_images_skipped_and_counted(tmp_path):
  _corrupt_images(tmp_path / 'data')
  out = faults.main(tmp_path / 'run', *faults.VIT, '--config.total_steps=2',
                    f'--config.input.dataset=image_folder:{tmp_path}/data',
                    '--config.input.on_corrupt_image=skip')
  assert out.returncode == 0 and 'Traceback' not in out.stderr, out.stderr[-3000:]
  assert 'skipped 2 of the 8 images' in out.stderr


@pytest.mark.parametrize('overrides,message', [
    (['--config.input.dataset=fashon_mnist'],
     r"unknown dataset 'fashon_mnist'.*fashion_mnist"),
    (['--config.input.eval_split=validation'], r"input.eval_split='validation'"),
], ids=['misspelled TFDS name', 'an evaluation split that does not exist'])
def test_a_dataset_or_split_that_does_not_exist(stopped_run, overrides, message):
  workdir, before = stopped_run
  faults.assert_refused_untouched(faults.main(workdir, *faults.VIT, *overrides), message,
                                  workdir, before)


def _captions_tsv(root, broken: str):
  _images(root, 'train', {'cat': 3})
  _images(root, 'test', {'cat': 3})
  (root / 'train' / 'cat' / 'broken.jpg').write_bytes(b'these bytes are no JPEG')
  line = {'missing': 'train/cat/gone.png\ta cat that left',
          'corrupt': 'train/cat/broken.jpg\ta broken cat'}[broken]
  for split in ('train', 'test'):
    lines = [f'{split}/cat/{i}.png\ta cat' for i in range(3)]
    (root / f'{split}.tsv').write_text('\n'.join(lines + [line] * (split == 'train')) + '\n')


@pytest.mark.parametrize('broken,message', [
    ('missing', r'missing image .*/train/cat/gone.png \(listed at .*/train.tsv:4; 1 of the 4 '
                r'images are missing\).*on_corrupt_image=skip'),
    ('corrupt', r'corrupt image .*/train/cat/broken.jpg \(1 of the 4 images of .*train.tsv do '
                r'not decode\)')])
def test_a_captions_tsv_image(tmp_path, broken, message):
  _captions_tsv(tmp_path / 'data', broken)
  workdir = tmp_path / 'run'
  out = faults.main(workdir, *CLIP, f'--config.input.dataset=captions_tsv:{tmp_path}/data/'
                    '{split}.tsv', '--config.input.templates=()')
  faults.assert_refused_untouched(out, message, workdir, {})


def test_a_corpus_too_small_for_its_validation_split(tmp_path):
  for name in ('a', 'b'):
    (tmp_path / f'{name}.txt').write_text('One sentence here. Another one there.\n\n' * 3)
  workdir = tmp_path / 'run'
  out = faults.main(workdir, *BERT, f'--config.input.dataset=text_files:{tmp_path}/*.txt')
  faults.assert_refused_untouched(out, r"input.eval_split='validation'.*has no text", workdir, {})


def test_a_tokenizer_of_another_size(tmp_path):
  workdir = tmp_path / 'run'
  out = faults.main(workdir, *BERT, '--config.model.vocab_size=999')
  faults.assert_refused_untouched(
      out, r'the tokenizer \(sentencepiece, trained on python_help\) has 1000 tokens but the '
           r'model has vocab_size=999: set it to 1000 or use the matching tokenizer', workdir, {})


def test_an_unknown_tfds_name_is_refused_without_asking_tfds(tmp_path, monkeypatch):
  """In-process, to see that tfds.builder is never called: offline it looks for an unknown name
  among GCS's community datasets, 155 s of retries before the same message."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  def builder(*args, **kwargs):
    raise AssertionError(f'tfds.builder{args} was asked')

  monkeypatch.setattr(tfds, 'builder', builder)
  config = common.smoke(common.base()).input
  config.update(dict(dataset='fashon_mnist', data_dir=str(tmp_path)))
  with pytest.raises(errors.UserInputError, match="unknown dataset 'fashon_mnist'.*fashion_mnist"):
    input_pipeline.num_examples(config, 'train')
