"""configs/common_translation.py: its input sections read their data, its optimizer is the
Transformer paper's schedule."""
import os

import pytest

import input_pipeline
from big_uni import optim
from configs import common_translation
from input_pipeline import config_schema, sources, text_corpora, translation
from tests.helpers import requires


def test_paper_optimizer_peaks_at_the_end_of_the_warmup():
  _, schedule = optim.build_optimizer(common_translation.paper_optimizer(), total_steps=100_000)
  assert float(schedule(4000)) == pytest.approx(512 ** -0.5 * 4000 ** -0.5, rel=1e-6)
  assert float(schedule(16_000)) == pytest.approx(float(schedule(4000)) / 2, rel=1e-6)


def test_wmt14_input_names_the_tfds_builder_and_downloads_nothing(tmp_path):
  section = common_translation.wmt14_input()
  completed = config_schema.completed(section, config_schema.INPUT)
  assert config_schema.REQUIRED not in completed.values()
  section.data_dir = str(tmp_path)
  with pytest.raises(sources.DatasetNotPreparedError,
                     match=f'tfds build wmt14_translate/de-en --data_dir={tmp_path}'):
    translation.references(section, 'test')
  assert not os.listdir(tmp_path)


@requires(os.path.exists(text_corpora.DING_DE_EN), 'apt-get install trans-de-en')
def test_ding_input_reads_the_real_pairs(tmp_path):
  section = common_translation.ding_input()
  section.tokenizer.cache_dir = str(tmp_path)
  assert input_pipeline.num_examples(section, 'train') == 19251 - 205
  assert len(translation.references(section, 'validation')) == 1070
