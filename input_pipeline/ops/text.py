"""Text ops, batch ops on numpy (ops/__init__.py): CLIP's captions and tokenizing, BERT's masking.

Keyword-only parameters, which the pp string leaves out, come from the input section
(pp.FROM_INPUT): `tokenizer`
(input.tokenizer, built once per process), `max_len` (input.max_text_len), `templates` and
`class_names` (input.templates; input.class_names, which image_text resolves to the dataset's
names), `max_predictions` (input.max_predictions): the model, the evaluations and the task's
batch declaration read those fields too, so each has one home.

Captions, for input.kind='image_text':
  class-labelled images: random_class_caption (train) fills a random template with the row's
    class name, class_caption (eval) the template its position cycles to, or `template`;
    both index a table of every caption, tokenized once, so they also tokenize.
  captioned images ('captions': an image's captions joined by newlines): random_caption (train)
    takes one of them, first_caption (eval) the first; tokenize then encodes the 'caption'.
  class-labelled images described: shade_caption names the class and how light the object is
    (the captioner's captions); tokenize encodes them.
"""
import numpy as np

from input_pipeline import bert_inputs, errors, stateless_random, tokenizers
from input_pipeline import templates as templates_lib
from input_pipeline.ops import OPS, batch_op


def caption_table(templates, class_names, tokenizer, max_len: int) -> tuple[np.ndarray,
                                                                              np.ndarray]:
  """Every template filled with every class name: (ids int32 [classes, templates, L], mask)."""
  templates = list(templates)
  if not templates:
    raise ValueError('input.templates is empty (captioned data takes random_caption or '
                     'first_caption)')
  captions = templates_lib.fill(templates, list(class_names))
  # A cut caption may lose its class name, so every one must fit ([CLS] and [SEP] included).
  longest = max(zip((len(i) + 2 for i in tokenizer.encode_batch(captions)), captions))
  if longest[0] > max_len:
    raise errors.UserInputError(f'the caption {longest[1]!r} is {longest[0]} tokens, more than '
                                f'input.max_text_len={max_len}: raise it (and the text '
                                'model\'s max_len) or shorten input.templates')
  ids, mask = tokenizer.encode_padded(captions, max_len)
  shape = (-1, len(templates), max_len)
  return ids.reshape(shape), mask.reshape(shape)


def _first_uniforms(keys: np.ndarray) -> np.ndarray:
  """float64 [B] in [0, 1): each row's first draw of its stream."""
  return stateless_random.uniforms(keys, 1)[:, 0]


def _table_op(templates, class_names, tokenizer, max_len, choose):
  """The op writing text_ids and text_mask of template `choose(batch, keys, templates)` [B] of
  each row's class ('label')."""
  ids, mask = caption_table(templates, class_names, tokenizers.build_tokenizer(tokenizer),
                            max_len)

  def op(batch, keys):
    template = choose(batch, keys, ids.shape[1])
    labels = batch['label']
    return {**batch, 'text_ids': ids[labels, template], 'text_mask': mask[labels, template]}
  return op


@OPS.register('random_class_caption')
@batch_op('caption')
def random_class_caption(*, templates, class_names, tokenizer, max_len: int):
  """Class-labelled rows: a uniformly random template filled with the row's class name,
  tokenized (text_ids int32 [B, max_len], text_mask bool [B, max_len])."""
  return _table_op(templates, class_names, tokenizer, max_len, lambda batch, keys, count: (
      _first_uniforms(keys) * count).astype(np.int64))


@OPS.register('class_caption')
@batch_op()
def class_caption(template: int | None = None, *, templates, class_names, tokenizer,
                  max_len: int):
  """As random_class_caption, with template number `template`, or (None) the one the row's
  position cycles to: an ordered eval pass sees every template about equally."""
  def choose(batch, keys, count):
    if template is None:
      return batch['position'] % count
    return np.full(len(batch['label']), template)
  if template is not None and not 0 <= template < len(templates):
    raise ValueError(f'template={template} is not one of the {len(templates)} templates')
  return _table_op(templates, class_names, tokenizer, max_len, choose)


SHADE_FIELD = '{shade}'


@OPS.register('shade_caption')
@batch_op()
def shade_caption(threshold: float = 0.65, *, templates, class_names):
  """Class-labelled rows: the template of input.templates the row's position cycles to, with
  the row's class name for '{label}' and 'dark' or 'light' for '{shade}' -> 'caption' (str [B]),
  which tokenize encodes. The image [B, H, W, C] is light where its object's mean brightness is
  at least `threshold`: the object is its pixels over a tenth of the way from the image's
  darkest value to its brightest, measured on that scale (so whatever normalize did). 0.65 is
  Fashion-MNIST's median, and each class's lies between 0.52 (sandals) and 0.72 (coats): the
  shade is a look at the image beyond its class."""
  missing = [t for t in templates if SHADE_FIELD not in t]
  if missing:
    raise errors.UserInputError(f'input.templates {missing} lack {SHADE_FIELD} (shade_caption)')

  def op(batch, keys):
    image = batch['image'].mean(axis=-1)  # [B, H, W]
    low = image.min(axis=(1, 2), keepdims=True)
    scaled = (image - low) / np.maximum(image.max(axis=(1, 2), keepdims=True) - low, 1e-6)
    foreground = scaled > 0.1
    shade = (scaled * foreground).sum((1, 2)) / np.maximum(foreground.sum((1, 2)), 1)
    captions = [templates[position % len(templates)]
                .replace(SHADE_FIELD, 'light' if value >= threshold else 'dark')
                .replace(templates_lib.LABEL_FIELD, class_names[label])
                for value, label, position in zip(shade, batch['label'], batch['position'])]
    return {**batch, 'caption': np.array(captions, object)}
  return op


def split_captions(captions: np.ndarray) -> list[list[str]]:
  """Bytes [B], each an image's captions joined by newlines -> the captions of each image."""
  return [c.decode('utf-8').split('\n') for c in captions]


def _captions(batch) -> tuple[dict, list[list[str]]]:
  """(batch without 'captions', each row's captions)."""
  if 'captions' not in batch:
    raise errors.UserInputError('random_caption and first_caption take captioned data; class-'
                                'labelled data takes random_class_caption or class_caption')
  batch = dict(batch)
  return batch, split_captions(batch.pop('captions'))


@OPS.register('random_caption')
@batch_op('caption')
def random_caption():
  """Captioned rows: 'captions' -> 'caption' (str [B]), one of the image's, uniformly."""
  def op(batch, keys):
    batch, options = _captions(batch)
    draws = _first_uniforms(keys)
    return {**batch, 'caption': np.array([o[int(d * len(o))] for o, d in zip(options, draws)],
                                         object)}
  return op


@OPS.register('first_caption')
@batch_op()
def first_caption():
  """Captioned rows: 'captions' -> 'caption' (str [B]), the image's first."""
  def op(batch, keys):
    batch, options = _captions(batch)
    return {**batch, 'caption': np.array([o[0] for o in options], object)}
  return op


@OPS.register('tokenize')
@batch_op()
def tokenize(*, tokenizer, max_len: int):
  """'caption' (str [B]) -> text_ids int32 [B, max_len], text_mask bool [B, max_len]: [CLS]
  caption [SEP] (cut to fit), then padding (Tokenizer.encode_padded)."""
  built = tokenizers.build_tokenizer(tokenizer)

  def op(batch, keys):
    batch = dict(batch)
    ids, mask = built.encode_padded(list(batch.pop('caption')), max_len)
    return {**batch, 'text_ids': ids, 'text_mask': mask}
  return op


@OPS.register('mask_tokens')
@batch_op('mask')
def mask_tokens(mask_prob: float = 0.15, whole_word: bool = False, *, tokenizer,
                max_predictions: int):
  """BERT's masked-LM targets of 'input_ids' int32 [B, L] (bert_inputs.mask_tokens): about
  mask_prob of each row's tokens (at most max_predictions), whole words if `whole_word`."""
  if not 0 < mask_prob < 1:
    raise ValueError(f'mask_prob={mask_prob} is not in (0, 1)')
  tables = bert_inputs.Tables(tokenizers.build_tokenizer(tokenizer))

  def op(batch, keys):
    length = batch['input_ids'].shape[1]
    # The row's word order, 80/10/10 choice and random token, each one draw a token.
    uniforms = stateless_random.uniforms(keys, 3 * length).reshape(-1, 3, length)
    return {**batch, **bert_inputs.mask_tokens(
        batch['input_ids'], uniforms, tables, mask_prob=mask_prob,
        max_predictions=max_predictions, whole_word=whole_word)}
  return op
