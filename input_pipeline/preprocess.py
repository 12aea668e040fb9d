"""Image preprocessing in tf ops: decoding, augmentation, normalisation. All randomness is
stateless, seeded by the example's position in the global stream (example['position']), so a
restarted pipeline reproduces an uninterrupted one exactly whatever the number of processes.
Keys other than 'image' and 'label' (position, mask, an image's captions) pass through."""
import math

from input_pipeline import config_schema, errors
from input_pipeline.tf_cpu import tf



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


def _resize(image, size: int):
  return tf.image.resize(image, (size, size), method='bilinear', antialias=True)


def _random_resized_crop(image, seed, size: int, scale, ratio):
  """Inception-style crop: a random area fraction in `scale`, aspect ratio in `ratio`."""
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      area_range=scale, aspect_ratio_range=ratio, min_object_covered=0.0, max_attempts=10,
      use_image_if_no_bounding_boxes=True)
  return _resize(tf.slice(image, begin, crop_size), size)


def _is_square(image, size: int):
  return tf.reduce_all(tf.shape(image)[:2] == size)


def _sized(image, size: int):
  """[size, size, C]: resized unless it already is."""
  image = tf.cond(_is_square(image, size), lambda: image, lambda: _resize(image, size))
  return tf.ensure_shape(image, (size, size, image.shape[-1]))


def _pad_crop(image, seed, size: int, pad: int):
  """Shift augmentation: zero-pad by `pad` pixels, crop a random size x size window."""
  image = _sized(image, size)
  padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
  return tf.image.stateless_random_crop(padded, (size, size, image.shape[-1]), seed=seed)


def _center_crop(image, size: int):
  """Resize the shorter side to size / 0.875, crop the centre (the usual eval transform)."""
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = (size / 0.875) / tf.reduce_min(shape)
  resized = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32), antialias=True)
  return tf.image.resize_with_crop_or_pad(resized, size, size)


def _random_erasing(image, seed, probability: float, area=(0.02, 0.25), ratio=(0.3, 3.3)):
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


def _normalize(image, input_config):
  mean = tf.constant(input_config.mean, tf.float32)
  std = tf.constant(input_config.std, tf.float32)
  return (image / 255.0 - mean) / std


def train_fn(input_config, seed: int):
  """example -> {'image': float32 [S, S, C], 'label': int32, other keys}."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  size, augment = input_config.image_size, input_config.augment
  if augment not in ('random_resized_crop', 'pad_crop', 'none'):
    raise errors.UserInputError(f"input.augment={augment!r}: use 'random_resized_crop', 'pad_crop' or 'none'")
  base_seed = tf.constant([seed, 0], tf.int64)

  def preprocess(example):
    crop_seed, flip_seed, erase_seed = tf.unstack(tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(base_seed, example['position']), 3))
    image = tf.cast(_decoded(example['image'], input_config.channels), tf.float32)
    if augment == 'random_resized_crop':
      image = _random_resized_crop(image, crop_seed, size,
                                   tuple(input_config.crop_scale), tuple(input_config.crop_ratio))
    elif augment == 'pad_crop':
      image = _pad_crop(image, crop_seed, size, input_config.pad)
    else:
      image = _sized(image, size)
    if input_config.flip:
      image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    image = _normalize(image, input_config)
    if input_config.random_erasing:
      image = _random_erasing(image, erase_seed, input_config.random_erasing)
    return {**example, 'image': image,
            'label': tf.cast(example['label'], tf.int32)}

  return preprocess


def eval_fn(input_config):
  """example -> {'image': float32 [S, S, C], 'label': int32, other keys}, deterministic."""
  size = input_config.image_size

  def preprocess(example):
    image = tf.cast(_decoded(example['image'], input_config.channels), tf.float32)
    # Small images (28 px digits) are upsampled whole, larger ones cropped at the centre.
    small = tf.reduce_max(tf.shape(image)[:2]) <= size
    image = tf.cond(small, lambda: _sized(image, size), lambda: _center_crop(image, size))
    image = tf.ensure_shape(image, (size, size, input_config.channels))
    return {**example, 'image': _normalize(image, input_config),
            'label': tf.cast(example['label'], tf.int32)}

  return preprocess
