"""input.kind='image_text': class-template captions, captioned TSV / tar shards / TFDS data,
determinism, exact restart, process slices, padded eval and retrieval pairs."""
import hashlib
import io
import os
import re
import tarfile

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import input_pipeline
from big_uni.evaluators.kinds import caption_retrieval
from input_pipeline import tokenizers
from input_pipeline import builders, errors, image_text, ops, sources

TEMPLATES = ('a photo of the number {label}.', 'a digit: {label}.', 'the {label}, written.')
THINGS = ('apple', 'bread', 'cloud', 'daisy', 'eagle', 'fruit')  # Captions of generated images.


@pytest.fixture(scope='module')
def tokenizer_config(tmp_path_factory):
  """A 96-piece sentencepiece model of a generated text with every caption word in it."""
  directory = tmp_path_factory.mktemp('corpus')
  rng = np.random.default_rng(0)
  words = [w for t in TEMPLATES for w in re.findall(r'[a-z]+', t)]
  words += [*image_text.DIGIT_NAMES, *THINGS, 'another', 'picture', 'of', 'an']
  for index in range(30):
    sentences = [' '.join(rng.choice(words, rng.integers(3, 12))).capitalize() + rng.choice(
        ['.', ':', ',']) for _ in range(20)]
    (directory / f'{index:02d}.txt').write_text(' '.join(sentences))
  return ml_collections.ConfigDict(dict(
      kind='sentencepiece', path='', train_corpus=f'text_files:{directory}/*.txt',
      vocab_size=96, lowercase=False, cache_dir=str(tmp_path_factory.mktemp('tokenizers'))))


@pytest.fixture(scope='module')
def tokenizer(tokenizer_config):
  return tokenizers.build_tokenizer(tokenizer_config)


@pytest.fixture(scope='module')
def digits(tmp_path_factory, tokenizer_config):
  """input_config of captioned sklearn digits (8x8), prepared offline."""
  return ml_collections.ConfigDict(dict(
      kind='image_text', dataset='digits', data_dir=str(tmp_path_factory.mktemp('tfds')),
      download=False, train_split='train', eval_split='test', image_size=8, channels=1,
      pp_train='decode|pad_crop(1)|normalize(0.5, 0.5)|label_int32|random_class_caption',
      pp_eval='decode|center_crop|normalize(0.5, 0.5)|label_int32|class_caption', cache=True,
      max_text_len=24, templates=TEMPLATES, class_names=(),
      tokenizer=tokenizer_config))


def _with(config, **overrides):
  config = config.copy_and_resolve_references()
  config.update(overrides)
  return config


def _stream(config, split='train', **kwargs):
  kwargs = {'train': True, 'global_batch_size': 32, 'seed': 0, **kwargs}
  return input_pipeline.get_iterator(config, split, **kwargs)


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _texts(tokenizer, batch) -> list[str]:
  """Each real row's caption, [CLS] and [SEP] checked and removed."""
  texts, real = [], batch.get('mask', np.ones(len(batch['text_ids']), bool))
  for ids, mask in zip(batch['text_ids'][real], batch['text_mask'][real]):
    assert mask[:mask.sum()].all() and ids[0] == tokenizer.cls_id
    assert ids[mask.sum() - 1] == tokenizer.sep_id and (ids[~mask] == tokenizer.pad_id).all()
    texts.append(tokenizer.decode(ids[1:mask.sum() - 1]).strip())
  return texts


def _assert_same(a, b):
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_template_captions_name_each_rows_class(digits, tokenizer):
  batch = next(_stream(digits, global_batch_size=64))
  assert sorted(batch) == ['image', 'label', 'text_ids', 'text_mask']
  assert batch['image'].shape == (64, 8, 8, 1) and batch['image'].dtype == np.float32
  assert batch['text_ids'].shape == (64, 24) and batch['text_ids'].dtype == np.int32
  assert batch['text_mask'].dtype == bool and batch['label'].dtype == np.int32
  for text, label in zip(_texts(tokenizer, batch), batch['label']):
    name = image_text.DIGIT_NAMES[label]
    assert text in [t.replace('{label}', name) for t in TEMPLATES]
  assert input_pipeline.class_names(digits) == list(image_text.DIGIT_NAMES)
  assert input_pipeline.num_examples(digits, 'test') == 300
  renamed = _with(digits, class_names=tuple(f'd{i}' for i in range(10)))
  assert input_pipeline.class_names(renamed)[7] == 'd7'


def test_template_choice_covers_all_templates_and_is_deterministic(digits, tokenizer):
  first, again = _take(_stream(digits, seed=3), 8), _take(_stream(digits, seed=3), 8)
  for a, b in zip(first, again):
    _assert_same(a, b)
  texts = [t for b in first for t in _texts(tokenizer, b)]
  counts = [sum(t.startswith(template.split('{')[0]) for t in texts) for template in TEMPLATES]
  assert min(counts) > len(texts) / 6 and sum(counts) == len(texts) == 256
  other = next(_stream(digits, seed=4))
  assert not np.array_equal(other['text_ids'], first[0]['text_ids'])


def test_restart_at_start_step_reproduces_the_stream(digits):
  fresh = _take(_stream(digits, seed=5), 50)  # 50 x 32 > 1,497: crosses an epoch.
  for step in (1, 47):
    _assert_same(next(_stream(digits, seed=5, start_step=step)), fresh[step])
  finite = list(_stream(digits, seed=5, start_step=3, num_steps=2))
  assert len(finite) == 2
  _assert_same(finite[1], fresh[4])


def _digests(images) -> list[str]:
  return [hashlib.sha1(i.tobytes()).hexdigest() for i in images]


def test_two_processes_slices_make_the_global_batch(digits):
  """Images, augmentation and caption choices follow each row's global stream position: two
  processes' rows together are one process's batch, also after a restart in a later epoch."""
  config = _with(digits, pp_train='decode|pad_crop(1)|normalize(0.5, 0.5)|label_int32|'
                 'random_class_caption')
  for start_step in (0, 70):
    one = next(_stream(config, global_batch_size=64, start_step=start_step))
    slices = [next(_stream(config, process_index=i, process_count=2, global_batch_size=64,
                           start_step=start_step)) for i in range(2)]
    assert all(s['image'].shape == (32, 8, 8, 1) for s in slices)
    for key in ('image', 'text_ids', 'text_mask', 'label'):
      np.testing.assert_array_equal(np.concatenate([s[key] for s in slices]), one[key])
  # Eval: the processes' rows together are the split, each (image, caption) pair as one
  # process gives it when the template is fixed.
  fixed = _with(config, pp_eval=config.pp_eval.replace('class_caption',
                                                       'class_caption(template=1)'))
  pairs = lambda batches: sorted(zip(_digests(np.concatenate([b['image'][b['mask']]
                                                               for b in batches])),
                                     _digests(np.concatenate([b['text_ids'][b['mask']]
                                                              for b in batches]))))
  per_process = [list(_stream(fixed, 'test', train=False, global_batch_size=64,
                              process_index=i, process_count=2)) for i in range(2)]
  assert len(per_process[0]) == len(per_process[1])
  one = list(_stream(fixed, 'test', train=False, global_batch_size=64))
  assert sorted(pairs(per_process[0]) + pairs(per_process[1])) == pairs(one)


def test_eval_is_padded_ordered_and_the_same_every_pass(digits, tokenizer):
  passes = [list(_stream(digits, 'test', train=False, global_batch_size=128)) for _ in range(2)]
  for a, b in zip(*passes):
    _assert_same(a, b)
  batches = passes[0]
  assert [b['mask'].sum() for b in batches] == [128, 128, 44]
  last = batches[-1]
  assert not last['text_mask'][44:].any() and not last['text_ids'][44:].any()
  texts = [t for b in batches for t in _texts(tokenizer, b)]
  labels = np.concatenate([b['label'] for b in batches])[:300]
  for index, (text, label) in enumerate(zip(texts, labels)):
    template = TEMPLATES[index % len(TEMPLATES)]
    assert text == template.replace('{label}', image_text.DIGIT_NAMES[label])
  fixed = next(_stream(_with(digits, pp_eval=digits.pp_eval.replace(
      'class_caption', 'class_caption(template=2)')), 'test', train=False,
                       global_batch_size=128))
  assert all(t.startswith('the ') for t in _texts(tokenizer, fixed))


def test_class_eval_pairs_give_every_template(digits, tokenizer):
  pairs = caption_retrieval.eval_pairs(digits, 'test', batch_size=128)
  assert pairs['image'].shape == (300, 8, 8, 1) and pairs['text_ids'].shape == (900, 24)
  np.testing.assert_array_equal(pairs['text_to_image'], np.repeat(np.arange(300), 3))
  eval_batch = next(_stream(digits, 'test', train=False, global_batch_size=128))
  np.testing.assert_array_equal(pairs['image'][:128], eval_batch['image'])
  texts = _texts(tokenizer, pairs)
  for image in (0, 299):
    name = image_text.DIGIT_NAMES[pairs['label'][image]]
    assert texts[3 * image:3 * image + 3] == [t.replace('{label}', name) for t in TEMPLATES]


def test_config_errors_are_clear(digits, tmp_path):
  with pytest.raises(ValueError, match='set input.templates'):
    input_pipeline.num_examples(_with(digits, templates=()), 'train')
  with pytest.raises(ValueError, match=r'lack \{label\}'):
    input_pipeline.num_examples(_with(digits, templates=('a digit',)), 'train')
  with pytest.raises(ValueError, match='10 classes'):
    input_pipeline.class_names(_with(digits, class_names=('one', 'two')))
  with pytest.raises(ValueError, match='raise it'):
    next(_stream(_with(digits, max_text_len=6)))
  with pytest.raises(ValueError, match='has its own captions'):
    input_pipeline.num_examples(_with(digits, dataset=f'captions_tsv:{tmp_path}/{{split}}.tsv'),
                                'train')
  with pytest.raises(ValueError, match=r'put \{split\}'):
    input_pipeline.num_examples(_with(digits, dataset=f'wds:{tmp_path}/*.tar', templates=()),
                                'train')


def test_shade_captions_name_the_class_and_how_light_the_object_is(digits, tokenizer):
  op = ops.OPS.get('shade_caption')(templates=('a {shade} {label}.',), class_names=('o', 'x'))
  # Background -1; objects: all at the top (light), or one top pixel and the rest at 0.4 of the
  # way from background to top (dark); any normalisation measures alike.
  light, dark = np.full((6, 6, 1), -1.0), np.full((6, 6, 1), -1.0)
  light[1:4, 1:4], dark[1:4, 1:4], dark[1, 1] = 1.0, -0.2, 1.0
  batch = op(dict(image=np.stack([light, dark, 3 * dark + 7]), label=np.array([1, 0, 1]),
                  position=np.arange(3)), None)
  assert list(batch['caption']) == ['a light x.', 'a dark o.', 'a dark x.']
  config = _with(digits, templates=('a {shade} {label}.',),
                 pp_eval=digits.pp_eval.replace('class_caption', 'shade_caption|tokenize'))
  batch = next(_stream(config, 'test', train=False, global_batch_size=128))
  texts = _texts(tokenizer, batch)
  shades = ['light' if t.startswith('a light') else 'dark' for t in texts]
  wanted = [f'a {s} {image_text.DIGIT_NAMES[label]}.' for s, label in zip(shades, batch['label'])]
  assert texts == [tokenizer.decode(tokenizer.encode(w)) for w in wanted]  # 'k' is unknown.
  assert 10 < sum(t.startswith('a light') for t in texts) < 118  # Both shades are common.
  with pytest.raises(errors.UserInputError, match='lack'):
    ops.OPS.get('shade_caption')(templates=('a {label}.',), class_names=('o',))


def test_readable_fashion_mnist_names_follow_the_dataset():
  readable = image_text.READABLE_NAMES['fashion_mnist']
  assert all(r.split('-')[0] in c.lower() for r, c in zip(readable,
                                                          builders.FASHION_MNIST_CLASSES))
  assert len(readable) == len(builders.FASHION_MNIST_CLASSES)


def _png(value: int) -> bytes:
  """A 6x6 RGB image whose red channel is `value`: the tests tell images apart by it."""
  pixels = np.zeros((6, 6, 3), np.uint8)
  pixels[..., 0] = value
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format='PNG')
  return buffer.getvalue()


def _captions(index: int) -> list[str]:
  extra = [f'another {THINGS[index]} picture'] if index == 2 else []
  return [f'a photo of an {THINGS[index]}', *extra]


def _captioned(digits, dataset):
  return _with(digits, dataset=dataset, templates=(), image_size=6, channels=3, cache=False,
               pp_train='decode|resize|normalize(0.0, 1.0)|label_int32|random_caption|tokenize',
               pp_eval='decode|center_crop|normalize(0.0, 1.0)|label_int32|first_caption|'
               'tokenize')


def _image_index(image) -> int:
  return int(round(image[..., 0].mean() * 255)) // 40


def _check_captioned(config, tokenizer, order=tuple(range(6))):
  """Images 0-5 (in eval `order`) with their captions (image 2 has two) in the train split."""
  assert input_pipeline.num_examples(config, 'train') == 6
  assert input_pipeline.class_names(config) is None
  evals = list(_stream(config, 'train', train=False, global_batch_size=4))
  assert [b['mask'].sum() for b in evals] == [4, 2]
  images = np.concatenate([b['image'] for b in evals])[:6]
  texts = [t for b in evals for t in _texts(tokenizer, b)]
  assert tuple(_image_index(i) for i in images) == order
  assert texts == [_captions(i)[0] for i in order]
  assert (np.concatenate([b['label'][b['mask']] for b in evals]) == -1).all()
  drawn = set()
  for batch in _take(_stream(config, global_batch_size=3), 20):
    for image, text in zip(batch['image'], _texts(tokenizer, batch)):
      assert text in _captions(_image_index(image))
      drawn.add(text)
  assert len(drawn) == 7  # Both captions of image 2 are drawn.
  pairs = caption_retrieval.eval_pairs(config, 'train', batch_size=4)
  assert pairs['image'].shape == (6, 6, 6, 3) and pairs['text_ids'].shape == (7, 24)
  np.testing.assert_array_equal(pairs['text_to_image'],
                                np.repeat(np.arange(6), [len(_captions(i)) for i in order]))
  assert _texts(tokenizer, pairs) == [c for i in order for c in _captions(i)]


def test_captions_tsv(digits, tokenizer, tmp_path):
  os.makedirs(tmp_path / 'images')
  lines = []
  for index in range(6):
    (tmp_path / 'images' / f'{index}.png').write_bytes(_png(40 * index + 20))
    lines += [f'images/{index}.png\t{c}' for c in _captions(index)]
  lines.insert(2, '')  # Blank lines are skipped; an image's captions need not be adjacent.
  lines.append(lines.pop(4))
  (tmp_path / 'train.tsv').write_text('\n'.join(lines) + '\n')
  _check_captioned(_captioned(digits, f'captions_tsv:{tmp_path}/{{split}}.tsv'), tokenizer)
  (tmp_path / 'test.tsv').write_text('images/0.png a caption without a tab\n')
  with pytest.raises(ValueError, match=r'test.tsv:1: expected'):
    input_pipeline.num_examples(_captioned(digits, f'captions_tsv:{tmp_path}/{{split}}.tsv'),
                                'test')


def _write_shard(path, samples):
  with tarfile.open(path, 'w') as tar:
    for key, members in samples:
      for extension, data in members.items():
        info = tarfile.TarInfo(f'{key}.{extension}')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_webdataset_shards(digits, tokenizer, tmp_path):
  samples = [(f'part/{index:04d}', {'png': _png(40 * index + 20), 'json': b'{}',
                                    'txt': '\n'.join(_captions(index)).encode()})
             for index in range(6)]
  _write_shard(tmp_path / 'train-000.tar', samples[:4])
  _write_shard(tmp_path / 'train-001.tar', samples[4:])
  config = _captioned(digits, f'wds:{tmp_path}/{{split}}-*.tar')
  _check_captioned(config, tokenizer)
  per_process = [list(_stream(config, train=False, global_batch_size=4, process_index=i,
                              process_count=2)) for i in range(2)]
  indices = [sorted(_image_index(i) for b in p for i in b['image'][b['mask']])
             for p in per_process]
  assert indices == [[0, 1, 4, 5], [2, 3]]  # Rows [0, 2) and [2, 4) of each batch of 4.
  _write_shard(tmp_path / 'test-000.tar', [('a', {'png': _png(0)})])
  with pytest.raises(ValueError, match=r"test-000.tar: sample 'a' has no"):
    input_pipeline.num_examples(config, 'test')


def test_coco_captions_not_prepared_names_tfds_build(digits, tmp_path):
  config = _captioned(digits, 'coco_captions')
  config.data_dir = str(tmp_path)
  with pytest.raises(sources.DatasetNotPreparedError,
                     match=f'tfds build coco_captions --data_dir={tmp_path}'):
    input_pipeline.num_examples(config, 'train')
  assert not os.listdir(tmp_path) or 'downloads' not in os.listdir(tmp_path)


def test_coco_captions_from_generated_examples(digits, tokenizer, tmp_path):
  """The real TFDS coco_captions builder (features, records, JPEG decoding), prepared offline
  from generated examples: image i is red 40 * i + 20, with _captions(i), stored in TFDS's
  order."""
  builder = tfds.builder('coco_captions', data_dir=str(tmp_path))

  def example(index):
    pixels = np.zeros((6, 6, 3), np.uint8)
    pixels[..., 0] = 40 * index + 20
    return {'image': pixels, 'image/filename': f'{index}.jpg', 'image/id': index,
            'captions': [{'id': j, 'text': c} for j, c in enumerate(_captions(index))],
            'objects': {'area': [], 'bbox': np.zeros((0, 4), np.float32), 'id': [],
                        'is_crowd': [], 'label': []}}

  def split_generators(dl_manager, **unused_kwargs):
    del dl_manager  # Nothing is downloaded.
    return {split: ((i, example(i)) for i in range(6)) for split in ('train', 'val')}

  builder._split_generators = split_generators  # pylint: disable=protected-access
  builder.download_and_prepare(file_format='array_record')
  config = _captioned(digits, 'coco_captions')
  config.data_dir = str(tmp_path)
  stored = builder.as_data_source(split='train')
  _check_captioned(config, tokenizer, order=tuple(int(e['image/id']) for e in stored))
