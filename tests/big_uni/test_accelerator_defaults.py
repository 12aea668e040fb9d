"""What a run computes in without the user choosing: model.dtype='auto', attention 'auto', the
launcher's XLA flags, and the start-up line that says which were chosen."""
import jax.numpy as jnp

from big_uni import config_schema, xla_flags
from big_uni.models import build_model, describe_compute, transformer
from configs import clip_b16, vit_b16


def test_auto_is_float32_and_xla_attention_on_a_cpu():
  assert transformer.compute_dtype('auto') == jnp.float32
  assert transformer.compute_dtype('bfloat16') == jnp.bfloat16
  assert transformer.choose_attention(None, jnp.bfloat16, 64) == 'xla'  # No GPU here.
  assert transformer.choose_attention('cudnn', jnp.float32, 64) == 'cudnn'  # Forced stays.


def test_published_configs_leave_the_choice_to_the_machine():
  # The files leave both to the schema; a run completes its config with the schema's defaults.
  for config in map(config_schema.complete, (vit_b16.get_config(), clip_b16.get_config())):
    models = [config.model] if 'image' not in config.model else [config.model.image,
                                                                 config.model.text]
    assert all(m.dtype == 'auto' and m.attention_impl == 'auto' for m in models)


def test_the_start_up_line_names_dtype_and_attention_per_tower():
  assert describe_compute(build_model(vit_b16.get_config().model)) == (
      'float32 activations, xla attention')
  config = clip_b16.get_config().model
  config.text.dtype = 'bfloat16'
  assert describe_compute(build_model(config)) == (
      'image tower: float32 activations, xla attention; '
      'text tower: bfloat16 activations, xla attention')


def test_launcher_flags_keep_what_the_user_set():
  environ = {'XLA_FLAGS': '--xla_gpu_enable_latency_hiding_scheduler=false --xla_dump_to=/d'}
  assert xla_flags.set_defaults(environ).split() == [
      '--xla_gpu_enable_latency_hiding_scheduler=false', '--xla_dump_to=/d']
  environ = {'XLA_FLAGS': '--xla_dump_to=/d'}
  assert xla_flags.set_defaults(environ).split() == [
      '--xla_gpu_enable_latency_hiding_scheduler=true', '--xla_dump_to=/d']
  assert xla_flags.set_defaults({}).split() == list(xla_flags.DEFAULT_FLAGS)
