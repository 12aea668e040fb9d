"""input.dataset '<prefix>:<path>': a prefix registered beside its source is all a new prefixed
source needs; a misspelt prefix is refused naming the close matches; TFDS names are no prefixes."""
import pathlib

import ml_collections
import pytest

from input_pipeline import caption_sources, dataset_prefixes, errors, sources, text_corpora
from input_pipeline.registry import Registry


def _registered_copy(monkeypatch, module, name: str, entry) -> None:
  """module.PREFIXED with `name` registered, for this test only."""
  prefixes = Registry(module.PREFIXED.what)
  for known, value in module.PREFIXED.items():
    prefixes.register(known, value)
  prefixes.register(name, entry)
  monkeypatch.setattr(module, 'PREFIXED', prefixes)


def _input(dataset: str, kind: str = 'image') -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(kind=kind, dataset=dataset, train_split='train'))


def test_a_registered_text_prefix_is_a_corpus(monkeypatch, tmp_path):
  (tmp_path / 'a.lines').write_text('One line.\nTwo lines.\n')
  _registered_copy(monkeypatch, text_corpora, 'lines', text_corpora.FileCorpus(
      files=lambda name: [name.partition(':')[2]],
      read=lambda path: pathlib.Path(path).read_text(encoding='utf-8').splitlines()))
  assert text_corpora.load_documents(f'lines:{tmp_path}/a.lines', 'train') == [
      ['One line.', 'Two lines.']]
  assert text_corpora.prefixed_corpus('austen') is None


def test_a_registered_image_prefix_is_a_source(monkeypatch):
  opened = []
  _registered_copy(monkeypatch, sources, 'made_up',
                   lambda path, config: opened.append((path, config.train_split)) or 'source')
  assert sources.get_source(_input('made_up:/data/{split}')) == 'source'
  assert opened == [('/data/{split}', 'train')]
  assert not caption_sources.is_captioned(_input('made_up:/data', kind='image_text'))


@pytest.mark.parametrize('read,dataset,message', [
    (sources.get_source, 'image_foldr:/data',
     r"image dataset prefix 'image_foldr' is not registered \(did you mean 'image_folder'\?"),
    (caption_sources.get_source, 'captions_tvs:/data/{split}.tsv',
     r"captioned dataset prefix 'captions_tvs' is not registered \(did you mean "
     r"'captions_tsv'\? known: \['captions_tsv', 'wds'\]\)"),
    (lambda config: text_corpora.load_documents(config.dataset, 'train'), 'text_file:/x/*.txt',
     r"text corpus prefix 'text_file' is not registered \(did you mean 'text_files'\?"),
])
def test_a_misspelt_prefix_is_refused_naming_the_close_matches(read, dataset, message):
  with pytest.raises(errors.UserInputError, match=message):
    read(_input(dataset))


@pytest.mark.parametrize('dataset', ['coco_captions:1.0.0', 'coco_captions', 'mnist:3.*.*',
                                     'wikipedia/20230601.en'])
def test_tfds_names_are_not_prefixed(dataset):
  for prefixes in (sources.PREFIXED, caption_sources.PREFIXED, text_corpora.PREFIXED):
    assert dataset_prefixes.prefixed(dataset, prefixes) is None
