"""(Image, caption) pairs for CLIP (input.kind='image_text'), on the image pipeline (images.py).

Captions come from one of two kinds of data:
  class-labelled images (mnist5k, fashion_mnist, digits, TFDS classification datasets,
    image_folder:): input.templates such as ('a photo of a {label}.',) filled with the class
    names: input.class_names if set, else READABLE_NAMES, else the dataset's own names with
    '_' read as ' '. The [classes, templates] table is tokenized once.
  captioned images (caption_sources.py): TFDS coco_captions, captions_tsv:, wds: shards. A train
    example takes one of its captions at random, an eval example its first.
Captions are chosen and tokenized after batching, in numpy: the random choice of the row at
stream position q is a function of (seed, q) (stateless_random.py), as the image augmentation is
seeded by q (pp.py), so a restart at start_step is exact and the global batch does not
depend on the number of processes. Eval templates cycle with the example's index in the split,
or are all input.eval_template.

input_config fields: those of input.kind='image' (dataset, data_dir, download, image_size,
channels, pp_train, pp_eval, cache),
max_text_len, tokenizer (input_pipeline.tokenizers.build_tokenizer), templates (empty for captioned
data), class_names (empty: the defaults above), eval_template (None: cycle).
"""
import numpy as np

from input_pipeline import (caption_sources, config_schema, errors, images, sources,
                            stateless_random, tokenizers)
from input_pipeline import templates as templates_lib

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
  templates = list(input_config.templates)
  captions = templates_lib.fill(templates, _class_names(input_config, source))
  # A cut caption may lose its class name, so every one must fit ([CLS] and [SEP] included).
  longest = max(zip((len(i) + 2 for i in tokenizer.encode_batch(captions)), captions))
  if longest[0] > input_config.max_text_len:
    raise errors.UserInputError(f'the caption {longest[1]!r} is {longest[0]} tokens, more than '
                     f'input.max_text_len={input_config.max_text_len}: raise it (and the text '
                     'model\'s max_len) or shorten input.templates')
  ids, mask = tokenizer.encode_padded(captions, input_config.max_text_len)
  shape = (-1, len(templates), input_config.max_text_len)
  return ids.reshape(shape), mask.reshape(shape)


def _row_uniforms(seed: int, positions: np.ndarray) -> np.ndarray:
  """float64 [B] in [0, 1): each row's draw, a function of (seed, its stream position)."""
  return stateless_random.uniforms(stateless_random.row_keys(seed, 0, positions), 1)[:, 0]


def _template_finish(table, *, train: bool, seed: int, eval_template: int | None):
  ids, mask = table
  num_templates = ids.shape[1]

  def finish(step, batch):
    del step  # Each row's choices follow its stream position.
    labels = batch['label']
    if train:
      template = (_row_uniforms(seed, batch['position']) * num_templates).astype(np.int64)
    elif eval_template is None:
      template = batch['position'] % num_templates
    else:
      template = np.full(len(labels), eval_template)
    return {**batch, 'text_ids': ids[labels, template], 'text_mask': mask[labels, template]}

  return finish


def split_captions(captions: np.ndarray) -> list[list[str]]:
  """Bytes [B], each an image's captions joined by newlines -> the captions of each image."""
  return [c.decode('utf-8').split('\n') for c in captions]


def _caption_finish(tokenizer, max_len: int, *, train: bool, seed: int):

  def finish(step, batch):
    del step  # Each row's choice follows its stream position.
    options = split_captions(batch.pop('captions'))
    if train:
      draws = _row_uniforms(seed, batch['position'])
      chosen = [o[int(d * len(o))] for o, d in zip(options, draws)]
    else:
      chosen = [o[0] for o in options]
    ids, mask = tokenizer.encode_padded(chosen, max_len)
    return {**batch, 'text_ids': ids, 'text_mask': mask}

  return finish


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's share of each global batch (B = global_batch_size // process_count,
  L = input.max_text_len): image float32 [B, S, S, C], text_ids int32 [B, L] and text_mask bool
  [B, L] ([CLS] caption [SEP], as Tokenizer.encode_padded), label int32 [B] (-1 on captioned
  data). Sharding, shuffling, augmentation, restarts and eval padding ('mask' bool [B]) are
  those of images.get_iterator.
  """
  input_config = config_schema.completed(input_config, config_schema.INPUT)
  source, captioned = source_of(input_config)
  tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
  if captioned:
    finish = _caption_finish(tokenizer, input_config.max_text_len, train=train, seed=seed)
  else:
    finish = _template_finish(caption_table(input_config, source, tokenizer), train=train,
                              seed=seed, eval_template=input_config.eval_template)
  return images.source_batches(
      source, input_config, split, train=train, global_batch_size=global_batch_size, seed=seed,
      start_step=start_step, num_steps=num_steps, process_index=process_index,
      process_count=process_count, finish=finish)


def num_examples(input_config, split: str) -> int:
  return source_of(input_config)[0].num_examples(split)


def class_names(input_config) -> list[str] | None:
  """The names the captions use; None for captioned data."""
  source, captioned = source_of(input_config)
  return None if captioned else _class_names(input_config, source)
