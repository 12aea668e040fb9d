"""Adds ArrayRecord files beside a TFDS dataset prepared as TFRecord, so it can be read by index.

    python -m input_pipeline.to_array_record --dataset_version_dir=~/tensorflow_datasets/imagenet2012/5.1.0

TFDS prepares TFRecord by default, which is read in order only; big_uni reads examples by index
(sampling.py). `tfds convert_format` does the same conversion but needs Apache Beam installed
even when it runs without it; this uses TFDS's own file adapters, one shard at a time, and marks
the dataset's metadata so `tfds.data_source` finds the new files. The records are copied as they
are (same serialized examples, same order), so the TFRecord files can be deleted afterwards.
"""
import argparse
import os
import time

from input_pipeline.tf_cpu import tf, tfds

file_adapters = tfds.core.file_adapters
_OUT = file_adapters.FileFormat.ARRAY_RECORD


def convert(dataset_version_dir: str) -> int:
  """Writes an .array_record shard beside each .tfrecord shard; returns the number of records."""
  info_proto = tfds.core.dataset_info.read_proto_from_builder_dir(dataset_version_dir)
  if info_proto.file_format == _OUT.value or _OUT.value in info_proto.alternative_file_formats:
    return 0
  source_format = file_adapters.FileFormat.from_value(info_proto.file_format or 'tfrecord')
  read, write = (file_adapters.ADAPTER_FOR_FORMAT[f] for f in (source_format, _OUT))
  count = 0
  for name in sorted(tf.io.gfile.listdir(dataset_version_dir)):
    if f'.{source_format.file_suffix}-' not in name:
      continue
    source = os.path.join(dataset_version_dir, name)
    target = source.replace(f'.{source_format.file_suffix}-', f'.{_OUT.file_suffix}-')
    records = enumerate((r.numpy() for r in read.make_tf_data(source)), start=count)
    partial = f'{target}.partial'  # Renamed when whole: an interrupted run leaves no bad shard.
    write.write_examples(partial, records)
    tf.io.gfile.rename(partial, target, overwrite=True)
    count += int(info_shard_length(info_proto, name))
  info_proto.alternative_file_formats.append(_OUT.value)
  tfds.core.dataset_info.write_dataset_info_proto(info_proto, dataset_version_dir)
  return count


def info_shard_length(info_proto, shard_name: str) -> int:
  """The number of records of shard `<dataset>-<split>.<format>-<i>-of-<n>` in the metadata."""
  split = shard_name.split('.')[0].rsplit('-', 1)[1]
  index = int(shard_name.rsplit('-of-', 1)[0].rsplit('-', 1)[1])
  return next(s.shard_lengths[index] for s in info_proto.splits if s.name == split)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--dataset_version_dir', required=True,
                      help='<data_dir>/<dataset>[/<config>]/<version>, holding dataset_info.json')
  args = parser.parse_args()
  start = time.perf_counter()
  count = convert(os.path.expanduser(args.dataset_version_dir))
  print(f'{args.dataset_version_dir}: {count} records written as ArrayRecord in '
        f'{time.perf_counter() - start:.1f} s' if count else
        f'{args.dataset_version_dir} already has ArrayRecord files')


if __name__ == '__main__':
  main()
