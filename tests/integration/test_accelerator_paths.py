"""Accelerator paths checked without an accelerator: every config's train step at its real size,
in bfloat16, traced and lowered with the shardings of a TPU slice (dtype, shape and sharding
errors surface in tracing, in seconds); one reduced-depth model per family compiled by the TPU
compiler (slow)."""
import importlib
import importlib.util
import os

import pytest

from big_uni import aot, errors, train
from tests.helpers import CONFIG_NAMES, requires

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_libtpu = requires(importlib.util.find_spec('libtpu') is not None,
                        "libtpu is not installed: pip install -e '.[tpu_aot]'")
# v4-8's 4 chips as fsdp x tensor: params, optimizer state and batch all split.
MESH = dict(data=1, fsdp=2, tensor=2)
# Models whose head count no tensor split of 2 divides (ViT-Ti's 3 and the DeiT student's, the
# Decision Transformer's one, as the paper's): fsdp only.
MESH_BY_CONFIG = {name: dict(data=1, fsdp=4, tensor=1) for name in (
    'vit_ti16', 'deit_fashion_mnist', 'decision_transformer_cartpole')}


def _towers(model_config):
  """The sections holding a tower's compute fields: the model's own, or its towers' (CLIP's
  image and text, MAE's encoder)."""
  return [model_config[k] for k in ('image', 'text', 'encoder') if k in model_config] or [
      model_config]


def _bf16_config(name: str, scan: bool, variant: str | None = None):
  module = importlib.import_module(f'configs.{name}')
  config = module.get_config(variant) if variant else module.get_config()
  for tower in _towers(config.model):
    tower.update(dtype='bfloat16', scan_layers=scan)
  config.mesh.update(MESH_BY_CONFIG.get(name, MESH))
  return config


def _lower_on_tpu(config):
  trainer = train.Trainer(config, total_steps=1, devices=aot.get_topology('v4-8').devices)
  return aot._lower(trainer, config.input.batch_size)  # pylint: disable=protected-access


@needs_libtpu
@pytest.mark.parametrize('scan', [True, pytest.param(False, marks=pytest.mark.slow)],
                         ids=['scan', 'unrolled'])
@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_default_variant_lowers_for_tpu_in_bfloat16(name, scan):
  lowered = _lower_on_tpu(_bf16_config(name, scan))
  text = lowered.as_text()
  assert 'bf16' in text and 'sharding' in text


@needs_libtpu
def test_a_mesh_the_params_do_not_divide_is_named_before_tracing():
  config = _bf16_config('vit_ti16', scan=True)
  config.mesh.update(MESH)  # ViT-Ti's 3 heads over tensor=2
  with pytest.raises(errors.UserInputError, match=r"attention/.*'heads', size 3.*tensor=2"):
    _lower_on_tpu(config)




@pytest.mark.slow
@needs_libtpu
@pytest.mark.parametrize('name', ['vit_b16', 'bert_base', 'clip_b16'])
def test_reduced_depth_model_compiles_for_tpu(name):
  """Each family at its real width and head count, 2 layers per tower."""
  config = _bf16_config(name, scan=True)
  config.input.batch_size = 32
  for tower in _towers(config.model):
    tower.depth = 2
  trainer = train.Trainer(config, total_steps=1, devices=aot.get_topology('v4-8').devices)
  figures = aot.compile_step(trainer, config.input.batch_size)
  print(name, {k: v for k, v in figures.items() if k.endswith(('_bytes', '_s'))})
  assert figures['fits'] and figures['temp_bytes'] > 0
