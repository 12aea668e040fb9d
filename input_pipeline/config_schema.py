"""The schema mechanism and the `config.input` section: every input field, per kind, with its
default (the rest of the config's schema, which builds on this, is big_uni/config_schema.py).

It lives in the data layer because the pipelines complete the input section they are handed
with these defaults, and input_pipeline never imports big_uni. A field's default is its value
when the config leaves it out; REQUIRED fields have none (the config must set them), a `Derived`
default is computed from other fields (`eval_batch_size` is `batch_size` unless set).
"""
import contextlib
import dataclasses
from typing import Any, Callable


class _Marker:

  def __init__(self, name: str):
    self.name = name

  def __repr__(self) -> str:
    return self.name


REQUIRED = _Marker('REQUIRED')  # No default: the config sets it.
# A mapping whose keys the user names (config.sharding_rules: logical axis -> mesh axes).
FREE_MAPPING = _Marker('FREE_MAPPING')


@dataclasses.dataclass(frozen=True)
class Derived:
  """A default computed from the config: `fn(root config, own section)`."""
  fn: Callable[[Any, Any], Any]
  doc: str

  def __repr__(self) -> str:
    return f'Derived({self.doc})'


def same_as(field: str) -> Derived:
  """The default of a field that follows another field of its section unless set."""
  return Derived(lambda root, section: section[field], f'same as {field}')


@dataclasses.dataclass(frozen=True)
class Choice:
  """A section whose fields depend on its own field `key` (`model.name`, `input.kind`, an
  evaluation's `kind`): `sections[value]` lists them, `key` included."""
  key: str
  default: Any  # The value of `key` when the config leaves it out, REQUIRED, or a Derived.
  what: str  # What one value names, for messages: 'model', 'input kind', ...
  sections: dict


@dataclasses.dataclass(frozen=True)
class Entries:
  """Entries the config names (config.evals.<name>, config.init.<name>), each an `entry`."""
  entry: Choice


# Inputs: the fields every pipeline reads, then each kind's own.
TOKENIZER = dict(kind=REQUIRED, path='', train_corpus='', vocab_size=REQUIRED,
                 lowercase=Derived(lambda root, section: section.kind == 'wordpiece',
                                   "kind == 'wordpiece'"),
                 cache_dir='')
_DATA = dict(
    dataset=REQUIRED, data_dir='', download=False, train_split=REQUIRED, eval_split=REQUIRED,
    batch_size=REQUIRED, eval_batch_size=same_as('batch_size'),
    eval_examples=1024)  # Examples in a synthetic eval split (dataset='synthetic').
_IMAGE = dict(
    # The images' size and channels, which the model is built for, and the preprocessing of
    # train and eval examples: pp strings of ops (input_pipeline/pp.py, ops/).
    image_size=REQUIRED, channels=REQUIRED, pp_train=REQUIRED, pp_eval=REQUIRED, cache=False,
    # image_folder: and captions_tsv: datasets: a file that does not decode stops the run
    # ('fail') or is left out and counted ('skip').
    on_corrupt_image='fail')
INPUT = Choice('kind', 'image', 'input kind', {
    'image': dict(kind='image', **_DATA, **_IMAGE),
    'image_text': dict(
        kind='image_text', **_DATA, **_IMAGE, max_text_len=REQUIRED, templates=(),
        class_names=(), tokenizer=TOKENIZER),
    # prepared_dir: the output of `python -m input_pipeline.prepare_text` (a TFDS corpus such as
    # Wikipedia must be prepared once by hand; austen and text_files: are prepared into
    # cache_dir on first use, ~/.cache/big_uni/text if empty).
    # pp_train, pp_eval: batch ops on the assembled pairs (ops/text.py), e.g.
    # 'mask_tokens(0.3, whole_word=True)'.
    'bert_pretraining': dict(
        kind='bert_pretraining', **_DATA, prepared_dir='', cache_dir='', max_seq_len=128,
        max_predictions=20, random_next_prob=0.5, short_seq_prob=0.1, tokenizer=TOKENIZER,
        pp_train='mask_tokens', pp_eval='mask_tokens'),
    # Windows of consecutive tokens (token_windows.py) from chunks prepared as BERT's are.
    'token_windows': dict(
        kind='token_windows', **_DATA, prepared_dir='', cache_dir='', max_seq_len=REQUIRED,
        tokenizer=TOKENIZER),
    'text_classification': dict(
        kind='text_classification', **_DATA, max_seq_len=REQUIRED, min_confidence=0.0,
        num_train_examples=None, tokenizer=TOKENIZER),
    # Sentence pairs (translation.py): source and target languages are the dataset's field
    # names ('de', 'en'); the training split leaves out pairs longer than the maximum lengths
    # (tokens, with EOS and BOS), other splits cut them.
    'translation': dict(
        kind='translation', **_DATA, source_language=REQUIRED, target_language=REQUIRED,
        max_source_len=REQUIRED, max_target_len=REQUIRED, tokenizer=TOKENIZER),
    # Columns of a table (tabular.py): split_seed fixes its train/validation/test rows.
    'tabular': dict(kind='tabular', **_DATA, split_seed=0),
    # Episodes of a gymnasium environment (trajectories.py), played by its scripted controller
    # taking a random action with each probability of `epsilons`; train_episodes and
    # validation_episodes per policy; windows of context_length steps.
    'trajectories': dict(
        kind='trajectories', **_DATA, context_length=REQUIRED,
        epsilons=(0.0, 0.25, 0.5, 0.75, 1.0), train_episodes=40, validation_episodes=4,
        generation_seed=0),
})

def _is_section(value) -> bool:
  return hasattr(value, 'keys') and hasattr(value, 'items')


def _fill(schema, section, root) -> None:
  """Sets each field `section` leaves out to its default, in place, subsections included. A
  left-out subsection is made only where all its fields have defaults (config.mesh): one with
  a REQUIRED field (input.tokenizer, model.image) stays absent, as code tests its presence."""
  if isinstance(schema, Choice):
    value = chosen(schema, section, root)
    if not isinstance(value, str) or value not in schema.sections:
      return  # validate() names it.
    schema = schema.sections[value]
  derived = []
  for key, field in schema.items():
    if key in section:
      value = section[key]
      if isinstance(field, Entries) and value is not None and _is_section(value):
        for name in value.keys():
          _fill(field.entry, value[name], root)
      elif isinstance(field, (dict, Choice)) and value is not None and _is_section(value):
        _fill(field, value, root)
    elif isinstance(field, Derived):
      derived.append((key, field))
    elif isinstance(field, (Entries, _Marker)):
      if field is not REQUIRED:  # Entries and FREE_MAPPING: none named.
        section[key] = _empty_like(section)
    elif isinstance(field, dict):
      if not any(v is REQUIRED for v in field.values()):
        section[key] = _empty_like(section)
        _fill(field, section[key], root)
    elif not isinstance(field, Choice):
      section[key] = field
  for key, field in derived:  # After the plain defaults they may follow (eval_batch_size).
    try:
      section[key] = field.fn(root, section)
    except (KeyError, AttributeError):  # What it follows is not set either: left out too.
      pass


def chosen(choice: Choice, section, root):
  """The value of `choice.key` for `section`: its own, or the choice's default."""
  if choice.key in section:
    return section[choice.key]
  if isinstance(choice.default, Derived):
    return choice.default.fn(root, section)
  return choice.default


def _empty_like(section):
  return type(section)()


def _unlocked(section):
  return section.unlocked() if hasattr(section, 'unlocked') else contextlib.nullcontext()


def completed(section, schema):
  """A copy of one section (`config.model`, or a tower) with its defaults filled, for code
  that is handed a section rather than the whole config."""
  if hasattr(section, 'copy_and_resolve_references'):
    section = section.copy_and_resolve_references()
  else:
    section = dict(section)
  with _unlocked(section):
    _fill(schema, section, None)
  return section
