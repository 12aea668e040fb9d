"""big_uni: one Flax transformer for ViT, BERT and CLIP, trained on device meshes."""
import glob
import importlib.util
import os

# libtpu (from the tpu_aot and test extras, for ahead-of-time TPU compiles) prints start-up
# errors on a host without TPU chips unless told it is alone; TPU VMs have /dev/accel* or
# /dev/vfio devices and are left as they are.
if (importlib.util.find_spec('libtpu') is not None and not glob.glob('/dev/accel*')
    and not glob.glob('/dev/vfio/[0-9]*')):
  os.environ.setdefault('TPU_WORKER_HOSTNAMES', 'localhost')
