"""(Image, caption) pairs for CLIP (input.kind='image_text'), on the image pipeline (images.py).

Captions come from one of two kinds of data:
  class-labelled images (mnist5k, fashion_mnist, digits, TFDS classification datasets,
    image_folder:): input.templates such as ('a photo of a {label}.',) filled with the class
    names: input.class_names if set, else READABLE_NAMES, else the dataset's own names with
    '_' read as ' '; pp ops random_class_caption (train) and class_caption (eval).
  captioned images (caption_sources.py): TFDS coco_captions, captions_tsv:, wds: shards; pp ops
    random_caption (train) or first_caption (eval), then tokenize.
Captions are chosen and tokenized by the pp strings' batch ops (ops/text.py), after batching, in
numpy: the random choice of the row at stream position q is a function of (seed, q)
(stateless_random.py), as the image augmentation is seeded by q (pp.py), so a restart at
start_step is exact and the global batch does not depend on the number of processes.

input_config fields: those of input.kind='image' (dataset, data_dir, download, image_size,
channels, pp_train, pp_eval, cache), max_text_len, tokenizer
(input_pipeline.tokenizers.build_tokenizer), templates (empty for captioned data), class_names
(empty: the defaults above).
"""
import numpy as np

from input_pipeline import caption_sources, config_schema, errors, images, sources
from input_pipeline import templates as templates_lib
from input_pipeline.ops import text as text_ops

DIGIT_NAMES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
# Names that read well in a sentence, where the dataset's own do not ('T-shirt/top', '7').
READABLE_NAMES = {
    'fashion_mnist': ('t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt',
                      'sneaker', 'bag', 'ankle boot'),
    'mnist5k': DIGIT_NAMES,
    'digits': DIGIT_NAMES,
    'mnist': DIGIT_NAMES,
}


def source_of(input_config):
  """(the source of input.dataset, whether its examples have their own captions)."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  dataset, templates = input_config.dataset, tuple(input_config.templates)
  if caption_sources.is_captioned(input_config):
    if templates:
      raise errors.UserInputError(f'input.dataset={dataset!r} has its own captions: leave input.templates '
                       'empty (templates caption class-labelled datasets)')
    return caption_sources.get_source(input_config), True
  if not templates:
    raise errors.UserInputError(f'input.dataset={dataset!r} has class labels, not captions: set input.'
                     f"templates, e.g. ('a photo of a {templates_lib.LABEL_FIELD}.',)")
  missing = templates_lib.lacking_label_field(templates)
  if missing:
    raise errors.UserInputError(f'input.templates {missing} lack {templates_lib.LABEL_FIELD}')
  return sources.get_source(input_config), False


def _class_names(input_config, source) -> list[str]:
  names = list(source.class_names)
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  override = input_config.class_names or READABLE_NAMES.get(input_config.dataset)
  if not override:
    return [n.replace('_', ' ') for n in names]
  if len(override) != len(names):
    raise errors.UserInputError(f'{len(override)} class names for the {len(names)} classes of '
                     f'{input_config.dataset!r} ({names})')
  return list(override)


def caption_table(input_config, source, tokenizer) -> tuple[np.ndarray, np.ndarray]:
  """Every template filled with every class name: (ids int32 [classes, templates, L], mask)."""
  return text_ops.caption_table(input_config.templates, _class_names(input_config, source),
                                tokenizer, input_config.max_text_len)


def ops_input(input_config, source, captioned: bool):
  """The input section the pp ops read (pp.FROM_INPUT), class_names resolved as above."""
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  if not captioned:
    input_config.class_names = tuple(_class_names(input_config, source))
  return input_config


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's share of each global batch (B = global_batch_size // process_count,
  L = input.max_text_len): image float32 [B, S, S, C], text_ids int32 [B, L] and text_mask bool
  [B, L] ([CLS] caption [SEP], as Tokenizer.encode_padded), label int32 [B] (-1 on captioned
  data). Sharding, shuffling, augmentation, restarts and eval padding ('mask' bool [B]) are
  those of images.get_iterator.
  """
  source, captioned = source_of(input_config)
  return images.source_batches(
      source, ops_input(input_config, source, captioned), split, train=train,
      global_batch_size=global_batch_size, seed=seed, start_step=start_step,
      num_steps=num_steps, process_index=process_index, process_count=process_count)


def num_examples(input_config, split: str) -> int:
  return source_of(input_config)[0].num_examples(split)


def class_names(input_config) -> list[str] | None:
  """The names the captions use; None for captioned data."""
  source, captioned = source_of(input_config)
  return None if captioned else _class_names(input_config, source)
