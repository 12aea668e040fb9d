"""pp strings (input_pipeline/pp.py) of registered preprocessing ops (input_pipeline/ops/):
parsing, refusals, the size/channels defaults, and the random streams' seeds."""
import numpy as np
import pytest

from input_pipeline import errors, pp
from input_pipeline import stateless_random
from input_pipeline.ops import BATCH_STREAMS, OPS, STREAMS, batch_op, draws_from
from input_pipeline.tf_cpu import tf

INPUT = {'image_size': 8, 'channels': 1}


# An op registered here, as a plugin would be: no other file names it.
@OPS.register('erase_seed_probe')
@draws_from('erase')
def erase_seed_probe(key: str = 'seed'):
  """Writes the seed the op is given under `key`."""
  return lambda example, seed: {**example, key: seed}


# A batch op registered here: each row's first draw of the 'caption' stream.
@OPS.register('caption_draw_probe')
@batch_op('caption')
def caption_draw_probe(scale: int = 1):
  return lambda batch, keys: {**batch, 'draw': stateless_random.uniforms(keys, 1)[:, 0] * scale}


def _example(position: int, image=None):
  image = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28, 1) if image is None else image
  return {'image': tf.constant(image), 'label': tf.constant(3, tf.int64),
          'position': tf.constant(position, tf.int64)}


def _run(spec, position=0, seed=0, input_config=INPUT, image=None):
  return {k: v.numpy() for k, v in
          pp.build(spec, input_config, seed).example(_example(position, image)).items()}


def test_string_and_list_forms_parse_to_the_same_calls():
  text = "decode|pad_crop(pad=1)|flip_lr|normalize(0.5, (0.25, -1))|random_erasing(0.25)"
  calls = pp.parse(text)
  assert [c.name for c in calls] == ['decode', 'pad_crop', 'flip_lr', 'normalize',
                                      'random_erasing']
  assert calls[1].args == () and calls[1].kwargs == {'pad': 1}
  assert calls[3].args == (0.5, (0.25, -1)) and calls[3].kwargs == {}
  assert pp.parse(['decode', 'pad_crop(pad=1)|flip_lr',
                   'normalize(0.5, (0.25, -1))', 'random_erasing(0.25)']) == calls
  assert pp.parse(("decode(channels=3)",))[0].kwargs == {'channels': 3}


def test_an_unknown_op_is_refused_naming_the_close_ones():
  with pytest.raises(errors.UserInputError, match=r"'flip_rl' is not registered \(did you mean "
                                                  r"'flip_lr'\?"):
    pp.build('decode|flip_rl', INPUT, 0)


@pytest.mark.parametrize('op, why', [
    ('pad_crop(1, 2, 3)', 'too many positional arguments'),
    ('normalize(0.5)', "missing a required argument: 'std'"),
    ('pad_crop(paf=1)', "unexpected keyword argument 'paf'"),
    ('pad_crop(pad=one)', 'arguments must be python literals'),
    ('pad_crop(**{"pad": 1})', 'arguments must be python literals'),
])
def test_bad_arguments_are_one_line_naming_the_op_and_the_string(op, why):
  spec = f'decode|{op}|label_int32'
  with pytest.raises(errors.UserInputError) as raised:
    pp.build(spec, INPUT, 0)
  message = str(raised.value)
  assert why in message and repr(spec) in message and '\n' not in message
  assert message.startswith(f"pp op {op.split('(')[0]}(")


@pytest.mark.parametrize('spec', ['decode|', 'decode|pad_crop(1).x', 'decode|1', 'decode|f()(1)'])
def test_what_is_not_ops_joined_by_bars_is_refused(spec):
  with pytest.raises(errors.UserInputError, match='pp '):
    pp.parse(spec)


def test_two_random_ops_on_one_stream_are_refused():
  with pytest.raises(errors.UserInputError, match=r"pad_crop\(1\) and random_resized_crop both "
                                                  r"draw from the 'crop' random stream"):
    pp.build('decode|pad_crop(1)|random_resized_crop|label_int32', INPUT, 0)


def test_size_and_channels_come_from_the_input_unless_given():
  assert _run('decode|resize')['image'].shape == (8, 8, 1)
  assert _run('decode(channels=3)|resize(size=4)')['image'].shape == (4, 4, 3)
  assert _run('decode|center_crop', input_config={'image_size': 16, 'channels': 3}
              )['image'].shape == (16, 16, 3)


def test_ops_transform_the_example_and_pass_other_keys_through():
  out = _run('decode|resize(28)|normalize(0.5, 0.5)|label_int32')
  assert out['label'].dtype == np.int32 and out['label'] == 3 and out['position'] == 0
  expected = (np.arange(28 * 28).reshape(28, 28, 1) % 256 / 255 - 0.5) / 0.5
  np.testing.assert_allclose(out['image'], expected, atol=1e-6)
  assert _run('decode')['label'].dtype == np.int64  # Only label_int32 casts it.


def test_a_random_op_draws_from_its_stream_of_the_example_seed():
  """The seed of the op on stream s is row s of the split of fold_in([seed, 0], position):
  a plugin op on 'erase' gets row 2 whatever else the pipeline has."""
  for seed, position in ((0, 0), (3, 17), (1, 2**40)):
    expected = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(
        tf.constant([seed, 0], tf.int64), tf.constant(position, tf.int64)),
        len(STREAMS))[STREAMS.index('erase')]
    for spec in ('erase_seed_probe', 'decode|pad_crop(1)|flip_lr|erase_seed_probe(key="s")'):
      out = _run(spec, position, seed)
      np.testing.assert_array_equal(out.get('seed', out.get('s')), expected.numpy())


def test_turning_flips_off_leaves_the_crops_bitwise_unchanged():
  image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
  crops, flipped = [], 0
  for position in range(12):
    crop = _run('decode|pad_crop(3)|erase_seed_probe', position, image=image)
    with_flip = _run('decode|pad_crop(3)|flip_lr|erase_seed_probe', position, image=image)
    assert with_flip['image'].tobytes() in (crop['image'].tobytes(),
                                           crop['image'][:, ::-1].tobytes())
    flipped += with_flip['image'].tobytes() != crop['image'].tobytes()
    np.testing.assert_array_equal(with_flip['seed'], crop['seed'])
    crops.append(crop['image'].tobytes())
  assert 0 < flipped < 12 and len(set(crops)) > 1  # Flips and shifts both vary.


def test_arguments_of_one_op_with_its_defaults():
  spec = 'decode|random_resized_crop(scale=(0.9, 1.0))|normalize((0.5, 0.4), (0.2, 0.1))'
  assert pp.arguments(spec, 'normalize') == {'mean': (0.5, 0.4), 'std': (0.2, 0.1)}
  assert pp.arguments(spec, 'random_resized_crop') == {'scale': (0.9, 1.0),
                                                       'ratio': (3 / 4, 4 / 3)}
  with pytest.raises(errors.UserInputError, match='has 0 flip_lr ops'):
    pp.arguments(spec, 'flip_lr')


def test_a_pp_string_splits_into_per_example_and_batch_ops():
  assert pp.per_example('decode|resize|label_int32|random_class_caption') == (
      'decode|resize|label_int32')
  assert pp.per_example('mask_tokens(0.3, whole_word=True)') == ''
  assert [c.kwargs for c in pp.parse('mask_tokens(0.3, whole_word=True)')] == [
      {'whole_word': True}]
  built = pp.build('caption_draw_probe', INPUT, 0)
  assert built.example is None  # Batch ops alone need no TensorFlow.


def test_a_per_example_op_after_a_batch_op_is_refused_in_one_line():
  spec = 'decode|caption_draw_probe|label_int32'
  with pytest.raises(errors.UserInputError) as raised:
    pp.build(spec, INPUT, 0)
  assert str(raised.value) == (f'pp {spec!r}: label_int32 runs on one example, after the batch '
                               'op caption_draw_probe: per-example ops come first')


def test_a_batch_op_draws_from_its_rows_stream_of_the_seed_and_position():
  positions = np.array([0, 7, 2**40], np.int64)
  built = pp.build('decode|resize|caption_draw_probe(scale=2)', INPUT, 5)
  out = built.batch({'position': positions})
  expected = stateless_random.uniforms(stateless_random.row_keys(
      5, BATCH_STREAMS.index('caption'), positions), 1)[:, 0] * 2
  np.testing.assert_array_equal(out['draw'], expected)
  # A row's draw is its own: the same in any batch.
  np.testing.assert_array_equal(built.batch({'position': positions[1:]})['draw'], expected[1:])


def test_text_ops_take_their_context_from_the_input_unless_given():
  with pytest.raises(errors.UserInputError, match=r"pp op tokenize in 'tokenize': missing a "
                                                  r"required argument: 'tokenizer'"):
    pp.build('tokenize', INPUT, 0)  # An image input has no tokenizer.
  with pytest.raises(errors.UserInputError, match=r'pp op mask_tokens\(1.5\) .*mask_prob=1.5'):
    pp.build('mask_tokens(1.5)', {'tokenizer': None, 'max_predictions': 5}, 0)
  assert pp.arguments('decode|class_caption(template=2)', 'class_caption') == {'template': 2}
  assert pp.arguments('mask_tokens(0.3)', 'mask_tokens') == {'mask_prob': 0.3,
                                                             'whole_word': False}
