"""Corrupt checkpoints: the newest one altered or cut short on disk. The rerun (a real process)
names it with one warning, keeps its files aside (`<step>.unreadable-<time>`) and resumes from the
newest intact checkpoint to the uninterrupted run's params and metrics; with no intact checkpoint
it stops with one line and leaves every file as it was."""
import glob
import json
import os
import re

import pytest

from tests.helpers import faults
from tests.helpers import reliability_runs as runs


def _largest_array_file(step_dir):
  return max(glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd', '*')),
             key=os.path.getsize)


def _flip_a_bit_of_an_array(step_dir):
  path = _largest_array_file(step_dir)
  with open(path, 'r+b') as f:  # One bit: usually only the checksums notice (see below).
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)[0]
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte ^ 0x01]))


def _truncate_an_array_file(step_dir):
  path = _largest_array_file(step_dir)
  os.truncate(path, os.path.getsize(path) // 2)


def _change_a_stored_checksum(step_dir):
  path = os.path.join(step_dir, 'checksums', 'metadata')
  with open(path) as f:
    stored = json.load(f)
  key = next(k for k in stored if 'kernel' in k)
  stored[key] ^= 1
  with open(path, 'w') as f:
    json.dump(stored, f)


def _truncate_the_tree_metadata(step_dir):
  path = os.path.join(step_dir, 'state', '_METADATA')
  os.truncate(path, os.path.getsize(path) // 2)


def _zero_the_array_files(step_dir):
  for path in glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd', '*')):
    with open(path, 'r+b') as f:
      f.write(bytes(os.path.getsize(path)))


SLOW = pytest.mark.slow  # The README's suite keeps two corruptions; the slow call runs all.


@pytest.mark.parametrize('corrupt,why', [
    # The data file holds zstd frames: where the flipped bit lands in a frame header, decompression
    # fails before the checksums are compared (it happened once in a full run of the suite).
    (_flip_a_bit_of_an_array, 'its arrays do not match their checksums|.*ZSTD'),
    pytest.param(_change_a_stored_checksum, 'its arrays do not match their checksums',
                 marks=SLOW),
    (_truncate_an_array_file, 'OUT_OF_RANGE'),
    pytest.param(_truncate_the_tree_metadata, '', marks=SLOW),
    pytest.param(_zero_the_array_files, '', marks=SLOW)])
def test_a_corrupt_newest_checkpoint_is_set_aside(tmp_path, stopped_vit_dir, straight_vit_dir,
                                                  corrupt, why):
  workdir = faults.copy(stopped_vit_dir, tmp_path / 'run')
  corrupt(str(workdir / 'checkpoints' / '10'))
  out = faults.rerun(workdir, *faults.VIT)
  assert 'Traceback' not in out.stderr and 'Event loop is closed' not in out.stderr, out.stderr
  warnings = [line for line in out.stderr.splitlines() if 'is unreadable' in line]
  assert len(warnings) == 1, out.stderr[-3000:]
  assert re.search(rf'the checkpoint at step 10 is unreadable \(({why})', warnings[0])
  assert runs.resumed_from(out.stdout) == 5
  assert len(glob.glob(str(workdir / 'checkpoints' / '10.unreadable-*'))) == 1
  faults.assert_finished_as(straight_vit_dir, workdir)


def test_no_intact_checkpoint_stops_and_leaves_the_files_alone(stopped_run):
  workdir, _ = stopped_run
  for step in (5, 10):
    _truncate_an_array_file(str(workdir / 'checkpoints' / str(step)))
  before = faults.files(workdir)
  faults.assert_refused_untouched(faults.main(workdir, *faults.VIT),
                                  r'no checkpoint .* reads back intact: step 10', workdir, before)
