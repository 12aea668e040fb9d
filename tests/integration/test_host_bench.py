"""benchmarks.host_bench, tiny: the JPEGs it writes go through the ViT pipeline and a generated
corpus through the BERT one, and its JSON line has the rates (never checked against times)."""
import os

import pytest

from tests.helpers import script_json


def test_host_bench_times_both_pipelines_on_real_jpegs(tmp_path):
  figures = script_json.run_module('benchmarks.host_bench', '--images=64',
                                   '--image_size=64', '--batch_size=16', '--seconds=0',
                                   '--corpus_mb=1', f'--workdir={tmp_path}')
  jpegs = sorted((tmp_path / 'images' / 'train').glob('*/*.jpg'))
  assert len(jpegs) == 64
  assert {path.parent.name for path in jpegs} == {'china', 'flower'}
  assert all(path.read_bytes()[:3] == b'\xff\xd8\xff' for path in jpegs)  # JPEG's SOI marker.
  assert 300 <= figures['jpeg_mean_height'] <= 427 and 300 <= figures['jpeg_mean_width'] <= 500
  assert figures['vit_images_decodable'] == 64  # The image_folder: source decoded every file.
  assert figures['vit_examples'] >= 16 and figures['bert_sequences'] >= 16
  for key in ('vit_examples_per_sec', 'vit_examples_per_cpu_sec', 'bert_sequences_per_sec',
              'bert_sequences_per_cpu_sec'):
    assert figures[key] > 0, key
  assert figures['vit_cores_needed'] == pytest.approx(
      2900 / figures['vit_examples_per_cpu_sec'], rel=1e-2)
  assert figures['bert_cores_needed'] == pytest.approx(
      4200 / figures['bert_sequences_per_cpu_sec'], rel=1e-2)
  assert figures['host_cores'] == os.cpu_count()
