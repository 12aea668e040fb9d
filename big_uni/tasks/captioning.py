"""Image captioning: each caption token predicted from the image and the caption before it.

Batches (input.kind='image_text', as CLIP's): image float32 [B, H, W, C]; text_ids int32 [B, L]
and text_mask bool [B, L], [CLS] caption [SEP] then padding (Tokenizer.encode_padded), so [CLS]
starts every caption the decoder writes and [SEP] ends it; label int32 [B] (the class whose
name the caption holds, -1 on captioned data); 'mask' bool [B] in eval. The loss is the mean
next-token cross-entropy over every real target of the batch (sequence.NextTokenTask), the
causal LM's with the image to look at.

Generation (`generate`: greedy or beam search, big_uni/decoding.py) writes captions for the
'generation' evaluation, which scores them with BLEU against the eval captions and with
`class_word_accuracy`: how often the caption names the image's class.
"""
import functools
import re

import jax.numpy as jnp
import numpy as np

from big_uni import decoding
from big_uni.tasks import base, batch as batch_lib, sequence


def _words(text: str) -> list[str]:
  # Hyphens stay inside words, so that 't-shirt' does not hold the class 'shirt'.
  return re.findall(r"[\w'-]+", text.lower())


def names_class(caption: str, class_name: str) -> bool:
  """Whether the words of `class_name` occur in `caption`, whole and in order ('ankle boot' in
  'an ankle boot.'; not 'shirt' in 'a t-shirt.'), case aside."""
  caption_words, name_words = _words(caption), _words(class_name)
  return any(caption_words[i:i + len(name_words)] == name_words
             for i in range(len(caption_words) - len(name_words) + 1))


def class_word_accuracy(captions: list[str], labels, class_names) -> float:
  """The fraction of `captions` naming their image's class (names_class); labels int [N] index
  class_names."""
  return float(np.mean([names_class(c, class_names[label]) for c, label in zip(captions, labels)]))


@base.TASKS.register('captioning')
class CaptioningTask(sequence.NextTokenTask):

  feature_kinds = ('image',)
  generates = True
  tokens_field, mask_field = 'text_ids', 'text_mask'
  batch_fields = dict(
      image=batch_lib.Field(('input.image_size', 'input.image_size', 'input.channels'),
                            'float32'),
      text_ids=batch_lib.Field(('input.max_text_len',), 'int32', high='model.text.vocab_size'),
      # [CLS] and [SEP] at least: one prediction a row.
      text_mask=batch_lib.Field(('input.max_text_len',), 'bool', min_length=2),
      # Read by class_word_accuracy alone; synthetic rows have no class (-1).
      label=batch_lib.Field((), 'int32', low=-1, high=0))

  def __init__(self, config):
    super().__init__(config)
    self.input_config = config.input

  @functools.cached_property
  def class_names(self) -> list[str] | None:
    """The names the captions give the classes (input_pipeline.class_names); None for captioned
    data."""
    import input_pipeline  # pylint: disable=g-import-not-at-top
    return input_pipeline.class_names(self.input_config)

  def init_params(self, rng):
    images = jnp.zeros((1, *self.batch_spec['image'].shape), jnp.float32)
    ids = jnp.zeros((1, *self.batch_spec['text_ids'].shape), jnp.int32)
    return self.model.init({'params': rng}, images, ids)['params']

  def next_token_logits(self, params, batch, train, rng=None):
    return self.model.apply({'params': params}, batch['image'], batch['text_ids'][:, :-1],
                            train=train, rngs={'dropout': rng} if train else {})

  def image_features(self, params, images):
    """The mean of the image tokens the decoder attends to [B, D]."""
    return self.model.apply({'params': params}, images, method='encode').mean(axis=1)

  def generate(self, params, batch, *, beam_size: int, alpha: float, max_len: int):
    """Captions of batch['image'] after [CLS]: int32 [B, T], [SEP] then padding where they
    end; each image is encoded once (and repeated per beam)."""
    model = self.model
    encoded = model.apply({'params': params}, batch['image'], method=model.encode)
    start = jnp.full((encoded.shape[0],), self.tokenizer.cls_id, jnp.int32)
    return decoding.write(
        model, params, start, max_len or self.batch_spec['text_ids'].shape[0] - 1,
        beam_size=beam_size, alpha=alpha, eos_id=self.tokenizer.sep_id,
        pad_id=self.tokenizer.pad_id, method=model.decode, encoded=encoded)

  def reference_ids(self, batch):
    return batch['text_ids'][:, 1:]

  def generation_metrics(self, hypotheses, references, batch_rows):
    labels = np.asarray(batch_rows.get('label', []))
    labelled = labels >= 0
    if not labelled.any() or self.class_names is None:
      return {}
    return {'class_word_accuracy': class_word_accuracy(
        [h for h, keep in zip(hypotheses, labelled) if keep], labels[labelled],
        self.class_names)}
