"""big_uni: one Flax transformer for ViT, BERT and CLIP, trained on device meshes."""
import glob
import importlib.metadata
import importlib.util
import os


def _has_tpu_chips() -> bool:
  """TPU VMs have /dev/accel* (v2-v4) or /dev/vfio/<n> (v5 and later) devices."""
  return bool(glob.glob('/dev/accel[0-9]*') or glob.glob('/dev/vfio/[0-9]*'))


def _has_other_jax_plugins() -> bool:
  """A PJRT plugin besides libtpu (CUDA, ROCm, ...), found where JAX looks for them."""
  return (importlib.util.find_spec('jax_plugins') is not None
          or bool(importlib.metadata.entry_points(group='jax_plugins')))


def _quiet_libtpu_without_tpus(environ=os.environ):
  """libtpu (from the tpu_aot and test extras, for ahead-of-time TPU compiles) makes JAX start a
  TPU backend at its first use; on a host without TPU chips that prints start-up errors ('could
  not determine TPU accelerator type', 'No jellyfish device found' at INFO) and takes
  /tmp/libtpu_lockfile. There JAX is told to use the CPU alone, unless another plugin (a GPU) is
  installed, whose platform name is not known here: then libtpu is only told it is alone, which
  leaves one line. AOT compiles load libtpu for the topology themselves (big_uni/aot.py).
  TPU VMs and a JAX_PLATFORMS of the user's are left as they are."""
  if importlib.util.find_spec('libtpu') is None or _has_tpu_chips():
    return
  environ.setdefault('TPU_WORKER_HOSTNAMES', 'localhost')
  if not _has_other_jax_plugins():
    environ.setdefault('JAX_PLATFORMS', 'cpu')


_quiet_libtpu_without_tpus()  # Before JAX reads its configuration from the environment.
