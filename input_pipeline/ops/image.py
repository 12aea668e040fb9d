"""Image preprocessing ops in tf: decoding, resizing and cropping, flips, normalisation, random
erasing. Images are float32 [H, W, C] from `decode` on, values 0..255 until `normalize`. An op's
`size` (the output's side) and `channels` are input.image_size and input.channels unless the pp
string gives them (pp.py)."""
import math

from input_pipeline.ops import OPS, draws_from
from input_pipeline.tf_cpu import tf


def image_op(fn):
  """The op (example, seed) -> example of `fn(image, seed) -> image`."""
  return lambda example, seed: {**example, 'image': fn(example['image'], seed)}


def _decoded(image, channels: int):
  """uint8 [H, W, channels] from encoded bytes (PNG/JPEG) or an already decoded image."""
  if image.dtype == tf.string:
    return tf.ensure_shape(tf.io.decode_image(image, channels=channels, expand_animations=False),
                           (None, None, channels))
  return _to_channels(image, channels)


def _to_channels(image, channels: int):
  if image.shape[-1] == channels:
    return image
  if channels == 3:
    return tf.image.grayscale_to_rgb(image)
  return tf.image.rgb_to_grayscale(image)


@OPS.register('decode')
def decode(channels: int):
  """Encoded bytes (PNG/JPEG) or uint8 [H, W, C'] -> float32 [H, W, channels], values 0..255."""
  return image_op(lambda image, seed: tf.cast(_decoded(image, channels), tf.float32))


def _resize(image, size: int):
  return tf.image.resize(image, (size, size), method='bilinear', antialias=True)


def _random_resized_crop(image, seed, size: int, scale, ratio):
  """Inception-style crop: a random area fraction in `scale`, aspect ratio in `ratio`."""
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      area_range=scale, aspect_ratio_range=ratio, min_object_covered=0.0, max_attempts=10,
      use_image_if_no_bounding_boxes=True)
  return _resize(tf.slice(image, begin, crop_size), size)


@OPS.register('random_resized_crop')
@draws_from('crop')
def random_resized_crop(size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
  """[H, W, C] -> [size, size, C]: a random area fraction in `scale` and aspect ratio in
  `ratio` of the image, resized (the Inception crop)."""
  scale, ratio = tuple(scale), tuple(ratio)
  return image_op(lambda image, seed: _random_resized_crop(image, seed, size, scale, ratio))


def _is_square(image, size: int):
  return tf.reduce_all(tf.shape(image)[:2] == size)


def _sized(image, size: int):
  """[size, size, C]: resized unless it already is."""
  image = tf.cond(_is_square(image, size), lambda: image, lambda: _resize(image, size))
  return tf.ensure_shape(image, (size, size, image.shape[-1]))


@OPS.register('resize')
def resize(size: int):
  """[H, W, C] -> [size, size, C], bilinear with antialiasing; an image of that size is kept."""
  return image_op(lambda image, seed: _sized(image, size))


def _pad_crop(image, seed, size: int, pad: int):
  """Shift augmentation: zero-pad by `pad` pixels, crop a random size x size window."""
  image = _sized(image, size)
  padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
  return tf.image.stateless_random_crop(padded, (size, size, image.shape[-1]), seed=seed)


@OPS.register('pad_crop')
@draws_from('crop')
def pad_crop(pad: int, size: int):
  """[H, W, C] -> [size, size, C]: resized to size, zero-padded by `pad` pixels on each side,
  a random size x size window cropped (shifts of up to `pad` pixels)."""
  return image_op(lambda image, seed: _pad_crop(image, seed, size, pad))


def _center_crop(image, size: int):
  """Resize the shorter side to size / 0.875, crop the centre (the usual eval transform)."""
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = (size / 0.875) / tf.reduce_min(shape)
  resized = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32), antialias=True)
  return tf.image.resize_with_crop_or_pad(resized, size, size)


@OPS.register('center_crop')
def center_crop(size: int):
  """[H, W, C] -> [size, size, C], the eval transform: the shorter side resized to
  size / 0.875 and the centre cropped; an image no larger than size (28 px digits) is resized
  whole instead, as cropping would cut off the digit."""
  def crop(image, seed):
    small = tf.reduce_max(tf.shape(image)[:2]) <= size
    image = tf.cond(small, lambda: _sized(image, size), lambda: _center_crop(image, size))
    return tf.ensure_shape(image, (size, size, image.shape[-1]))
  return image_op(crop)


@OPS.register('flip_lr')
@draws_from('flip')
def flip_lr():
  """Mirrors the image left to right with probability 1/2."""
  return image_op(lambda image, seed: tf.image.stateless_random_flip_left_right(image, seed))


@OPS.register('normalize')
def normalize(mean, std):
  """Values 0..255 -> (value / 255 - mean) / std; `mean` and `std` are one number or one per
  channel."""
  def normalized(image, seed):
    return (image / 255.0 - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
  return image_op(normalized)


def _random_erasing(image, seed, probability: float, area, ratio):
  """Random erasing (Zhong et al. 2020): with `probability`, a rectangle of random area and
  aspect ratio is set to 0 (the dataset mean after normalisation)."""
  seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
  height, width = image.shape[0], image.shape[1]
  target = tf.random.stateless_uniform([], seeds[0], *area) * height * width
  log_ratio = tf.random.stateless_uniform([], seeds[1], *(math.log(r) for r in ratio))
  aspect = tf.exp(log_ratio)
  box_h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(target * aspect)), tf.int32), 1, height)
  box_w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(target / aspect)), tf.int32), 1, width)
  top = tf.random.stateless_uniform([], seeds[2], 0, height - box_h + 1, tf.int32)
  left = tf.random.stateless_uniform([], seeds[3], 0, width - box_w + 1, tf.int32)
  rows, cols = tf.range(height)[:, None], tf.range(width)[None, :]
  inside = (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)
  erase = inside & (tf.random.stateless_uniform([], seeds[4]) < probability)
  return tf.where(erase[..., None], tf.zeros_like(image), image)


@OPS.register('random_erasing')
@draws_from('erase')
def random_erasing(probability: float, area=(0.02, 0.25), ratio=(0.3, 3.3)):
  """[S, S, C] (after normalize, static size) -> the same, with `probability` a rectangle of
  random area fraction in `area` and aspect ratio in `ratio` set to 0."""
  area, ratio = tuple(area), tuple(ratio)
  return image_op(lambda image, seed: _random_erasing(image, seed, probability, area, ratio))
