"""Bad configs, given to the stopped run's command (a real process): a misspelled key in the
file, an override, an evaluation or init entry; a wrong value type or kind; sizes that cannot
work; a mesh or batch the devices cannot take; a checkpoint of another model. Each ends in one
`error:` line naming the cause, before the workdir is touched."""
import textwrap

import pytest

from tests.helpers import faults

EIGHT_DEVICES = {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}


def _config_file(tmp_path, body: str) -> str:
  """A config file: the stopped run's config (faults.VIT's overrides are given too), then `body`."""
  path = tmp_path / 'bad_config.py'
  path.write_text('import ml_collections\n\nfrom configs import vit_mnist5k\n\n\n'
                  "def get_config():\n  config = vit_mnist5k.get_config('smoke')\n"
                  + textwrap.indent(textwrap.dedent(body), '  ') + '  return config\n')
  return str(path)


OVERRIDES = {
    'unknown override key': (
        ['--config.optimizer.lrr=0.1'],
        r'unknown config key --config.optimizer.lrr .*did you mean --config.optimizer.lr\?'),
    'wrong value type': (
        ['--config.optimizer.lr=abc'], r'config.optimizer.lr is a float'),
    'misspelled model name': (
        ['--config.model.name=vitt'], r"config.model.name='vitt' is not a model \(did you mean "
                                      r"'vit'\?\)"),
    'batch size 0': (['--config.input.batch_size=0'], r'input.batch_size=0: must be positive'),
    'a width the heads do not divide': (
        ['--config.model.width=33'], r'model.width=33 is not divisible by model.num_heads=2'),
    'negative width': (['--config.model.width=-32'], r'model.width=-32: sizes must be positive'),
    'an image size the patch does not divide': (
        ['--config.input.image_size=10'], r'image size 10x10 is not divisible by patch size 4'),
    'a checkpoint of another model': (
        ['--config.model.width=48', '--config.model.num_heads=3'],
        r'does not fit config.model: param encoder/block00/attention/key_bias has shape \(2, 16\) '
        r'in the checkpoint and \(3, 16\) in the model'),
}


@pytest.mark.parametrize('case', OVERRIDES)
def test_a_bad_override(stopped_run, case):
  workdir, before = stopped_run
  overrides, message = OVERRIDES[case]
  faults.assert_refused_untouched(faults.main(workdir, *faults.VIT, *overrides), message,
                                  workdir, before)


DEVICES = {
    'a batch the devices do not divide': (
        ['--config.input.batch_size=36'],
        r'input.batch_size=36 is not divisible by the 8 devices the batch is split over \(mesh '
        r'data=8 x fsdp=1\): use a multiple of 8, e.g. 32 or 40'),
    'a mesh axis that does not divide a param': (
        ['--config.mesh.data=2', '--config.mesh.tensor=4'], r"'heads', size 2.*tensor=4"),
}


@pytest.mark.parametrize('case', DEVICES)
def test_a_bad_fit_to_eight_devices(stopped_run, case):
  workdir, before = stopped_run
  overrides, message = DEVICES[case]
  faults.assert_refused_untouched(faults.main(workdir, *faults.VIT, *overrides, **EIGHT_DEVICES),
                                  message, workdir, before)


FILES = {
    'misspelled keys in the file': (
        """
        config.input.batchsize = 8
        config.model.drop_pth = 0.1
        """, r'unknown config key input.batchsize \(did you mean [^)]*input.batch_size'),
    'a misspelled field of an evaluation entry': (
        """
        config.evals = ml_collections.ConfigDict({'knn': dict(
            kind='knn', train_split='train', test_split='test', kss=(1, 3))})
        """, r'unknown config key evals.knn.kss \(did you mean evals.knn.ks\?\)'),
    'a misspelled field of an init entry': (
        """
        config.init = ml_collections.ConfigDict({'backbone': dict(
            kind='checkpoint', path='/tmp/run', dont_laod=('head/.*',))})
        """, r'unknown config key init.backbone.dont_laod \(did you mean init.backbone.dont_load'),
    'an evaluation kind that does not exist': (
        """
        config.evals = ml_collections.ConfigDict({'knn': dict(
            kind='kNN', train_split='train', test_split='test')})
        """, r"config.evals.knn.kind='kNN' is not an evaluation kind \(did you mean 'knn'\?\)"),
    'an evaluation entry missing a field': (
        """
        config.evals = ml_collections.ConfigDict({'probe': dict(
            kind='linear_probe', test_split='test')})
        """, r'config.evals.probe \(linear_probe\) needs train_split'),
    'an evaluation the task has no features for': (
        """
        config.evals = ml_collections.ConfigDict({'zero_shot': dict(
            kind='zero_shot', split='test', templates=('a {label}',))})
        """, r'zero_shot needs a text tower; the classification task has none'),
}


@pytest.mark.parametrize('case', FILES)
def test_a_bad_config_file(tmp_path, stopped_run, case):
  workdir, before = stopped_run
  body, message = FILES[case]
  config = _config_file(tmp_path, body)
  faults.assert_refused_untouched(faults.main(workdir, config, *faults.VIT[1:]), message,
                                  workdir, before)


def test_a_variant_that_does_not_exist(stopped_run):
  workdir, before = stopped_run
  faults.assert_refused_untouched(
      faults.main(workdir, 'configs/vit_mnist5k.py:smok', *faults.VIT[1:]),
      r"--config=configs/vit_mnist5k.py:smok: unknown variant 'smok': .*known: patch4, smoke",
      workdir, before)
