"""Input pipelines, sharded per process; the only place big_uni touches TensorFlow.

The data layer reads one way: sources -> preprocessing ops and tokenizers -> per-process
pipelines (below), whose rows are chosen by index. big_uni imports this package, never the
reverse. Which file does what:
  sources              sources.py (TFDS datasets by name, image folders), builders.py (offline
                       TFDS builders), caption_sources.py (captioned images), text_corpora.py
                       (documents of text corpora; r_data.py reads Austen's R data),
                       labelled_datasets.py (labelled texts), tables.py (tables),
                       parallel_corpora.py (sentence pairs; ding.py reads the Ding dictionary),
                       dataset_prefixes.py (input.dataset '<prefix>:<path>', registered beside
                       each source), wheel_files.py (files read from pip wheels),
                       to_array_record.py (a command: TFRecord -> ArrayRecord)
  ops                  ops/ (preprocessing ops registered by name, one module a domain: image.py,
                       general.py), chained by a config's pp strings input.pp_train and
                       input.pp_eval (pp.py); templates.py (class-name captions), tokenizers/
                       (one module a tokenizer.kind)
  BERT text            text_preparation.py (tokenizing a corpus once into chunks; prepare_text.py
                       is its command), text_chunks.py (the chunk format), bert_pairs.py
                       (next-sentence pairs), bert_inputs.py (row layout and masking)
  rows and randomness  sampling.py (rows by index), stateless_random.py (counter-based draws)
  shared               config_schema.py (config.input's fields), registry.py (names -> code),
                       errors.py, tf_cpu.py (TensorFlow without GPUs)

`config.input.kind` picks the pipeline; configs leave it out: it is the one that gives the arrays
the task declares (`kind_giving`; big_uni/tasks/batch.py). Each module is imported when first
used, so text pipelines and tokenizers do not pay for (or need) TensorFlow until they read a
TFDS dataset:
  image                tf.data over TFDS datasets, offline builders and image folders (images.py)
  image_text           (image, caption) pairs for CLIP: class names in templates, or captioned
                       data (coco_captions, captions_tsv:, wds: shards) (image_text.py)
  bert_pretraining     MLM + NSP pairs from text corpora, masked on the fly (bert_pretraining.py)
  text_classification  labelled sentences and sentence pairs (text_classification.py)
  token_windows        windows of consecutive tokens of text corpora, for language models
                       (token_windows.py)
  translation          (source, target) sentence pairs for encoder-decoders, offline (Ding's) or
                       TFDS WMT (translation.py)
  tabular              numeric and categorical columns of a table (tabular.py; tables.py)
  trajectories         windows of episodes of a control task played by scripted and noisy
                       policies, for the Decision Transformer (trajectories.py)
Every pipeline's `get_iterator` yields this process's share of every global batch as a dict of
numpy arrays and restarts exactly at `start_step`, at the cost of one epoch permutation.
"""
import dataclasses
import importlib

from input_pipeline import config_schema, errors, sampling
from input_pipeline.registry import Registry


@dataclasses.dataclass(frozen=True)
class Pipeline:
  module: str  # Imported when first used (a module registering itself would be imported first).
  gives: tuple[str, ...]  # The arrays of its batches (and 'mask' in eval).


KINDS = Registry('input kind')
KINDS.register('image', Pipeline('input_pipeline.images', ('image', 'label')))
KINDS.register('image_text', Pipeline('input_pipeline.image_text',
                                      ('image', 'text_ids', 'text_mask', 'label')))
KINDS.register('bert_pretraining', Pipeline('input_pipeline.bert_pretraining', (
    'input_ids', 'segment_ids', 'input_mask', 'masked_positions', 'masked_ids', 'masked_weights',
    'next_sentence_label')))
KINDS.register('text_classification', Pipeline('input_pipeline.text_classification',
                                               ('input_ids', 'segment_ids', 'input_mask', 'label')))
KINDS.register('token_windows', Pipeline('input_pipeline.token_windows',
                                         ('input_ids', 'input_mask')))
KINDS.register('tabular', Pipeline('input_pipeline.tabular',
                                   ('numeric', 'categorical', 'label')))
KINDS.register('translation', Pipeline('input_pipeline.translation', (
    'source_ids', 'source_mask', 'target_ids', 'target_mask')))
KINDS.register('trajectories', Pipeline('input_pipeline.trajectories', (
    'returns_to_go', 'states', 'actions', 'timesteps', 'step_mask')))


def kind_giving(names) -> str:
  """The input kind whose batches have every array of `names`, with the fewest others."""
  fitting = [(len(p.gives), kind) for kind, p in KINDS.items() if set(names) <= set(p.gives)]
  if not fitting:
    raise errors.UserInputError(
        f'no input pipeline gives the arrays {sorted(names)}; they give: ' +
        '; '.join(f'{kind}: {", ".join(p.gives)}' for kind, p in KINDS.items()))
  return min(fitting)[1]


def _pipeline(input_config):
  kind = config_schema.completed(input_config, config_schema.INPUT).kind
  return importlib.import_module(KINDS.get(kind).module)


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """train=True: endless (or `num_steps` batches) from `start_step`, shuffled and augmented.
  train=False: one ordered pass, every batch padded to full size with a bool 'mask' [batch]."""
  sampling.local_batch_size(global_batch_size, process_count)
  return _pipeline(input_config).get_iterator(
      input_config, split, train=train, global_batch_size=global_batch_size, seed=seed,
      start_step=start_step, num_steps=num_steps, process_index=process_index,
      process_count=process_count)


def num_examples(input_config, split: str) -> int:
  return _pipeline(input_config).num_examples(input_config, split)


def class_names(input_config) -> list[str] | None:
  return _pipeline(input_config).class_names(input_config)


def references(input_config, split: str) -> list[str] | None:
  """The texts the rows of `split` should be written as, uncut, in the order of an eval pass's
  unpadded rows, where the pipeline keeps them (translation); None where the batches' token ids
  are all there is."""
  return getattr(_pipeline(input_config), 'references', lambda *args: None)(input_config, split)
