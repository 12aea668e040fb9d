"""The runs every fault test compares with: uninterrupted, and stopped by a real SIGTERM."""
import pytest

from tests.helpers import faults
from tests.helpers import reliability_runs as runs


@pytest.fixture(scope='session')
def straight_vit_dir(tmp_path_factory):
  """The uninterrupted ViT smoke run (faults.VIT: 20 steps, checkpoints every 5)."""
  def produce(workdir):
    faults.rerun(workdir, *faults.VIT)
  return runs.shared_dir(tmp_path_factory, 'straight_vit', produce)


@pytest.fixture(scope='session')
def straight_evals_dir(tmp_path_factory):
  """The uninterrupted run of faults.VIT_EVALS (evaluations at steps 10 and 20)."""
  def produce(workdir):
    faults.rerun(workdir, *faults.VIT_EVALS)
  return runs.shared_dir(tmp_path_factory, 'straight_evals', produce)


@pytest.fixture(scope='session')
def stopped_vit_dir(tmp_path_factory):
  """faults.VIT stopped by a real SIGTERM after step 10: checkpoints 5 and 10, metrics.jsonl up
  to step 10. The bad-input tests run against copies of it; test_kills resumes it."""
  def produce(workdir):
    out = faults.inject('sigterm_at_step', 10, workdir, *faults.VIT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'step 10: stopping on SIGTERM' in out.stdout, out.stdout[-2000:]
  return runs.shared_dir(tmp_path_factory, 'stopped_vit', produce)


@pytest.fixture
def stopped_run(tmp_path, stopped_vit_dir):
  """(a copy of stopped_vit_dir, the sha256 of each of its files)."""
  workdir = faults.copy(stopped_vit_dir, tmp_path / 'run')
  return workdir, faults.files(workdir)
