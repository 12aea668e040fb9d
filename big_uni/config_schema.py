"""The closed schema of a big_uni config: every field the code reads, per section, with its default.

A misspelled key would otherwise run with the default it meant to replace (`input.batchsize=8`
trains at the config's batch size), so `validate` refuses every key the schema does not declare,
naming the full dotted path and its close matches, before anything runs.

Sections whose fields depend on a value choose their fields by it: `model` by `model.name` (ViT,
BERT, CLIP with its image and text towers), `input` by `input.kind` (which configs leave out: the
pipeline giving the arrays the task declares), each `config.evals.<name>`
and `config.init.<name>` entry by its `kind`. A field's default is its value when the config
leaves it out; REQUIRED fields have none (the config must set them), a `Derived` default is
computed from other fields (`input.eval_batch_size` is `input.batch_size` unless set).

The mechanism (REQUIRED, Derived, Choice, Entries, completed) and `config.input` are declared in
input_pipeline/config_schema.py, beside the pipelines that complete their section with them.
Metadata only: importing this module imports no JAX, TensorFlow or model code (completing a
config that leaves input.kind out imports big_uni.tasks, whose batch declarations choose it).
"""
import dataclasses
import difflib

from big_uni import errors
# The mechanism and the input section live in the data layer, which completes its own section.
from input_pipeline.config_schema import (FREE_MAPPING, INPUT, REQUIRED, TOKENIZER, Choice,
                                          Derived, Entries, _fill, _is_section, _unlocked,
                                          chosen, completed, same_as)

__all__ = ['CONFIG', 'DECODER_TOWER', 'DEFAULT_RESIZE', 'EVALS', 'FREE_MAPPING', 'INIT', 'INPUT',
           'MODEL', 'OPTIMIZER', 'REQUIRED', 'TEXT_TOWER', 'TOKENIZER', 'VIT', 'VIT_TOWER',
           'Choice', 'Derived', 'Entries', 'complete', 'completed', 'problems', 'same_as',
           'validate']


# Models. A tower's sizes come from its variant (models/sizes.py: 'B/16', 'base'); width, depth,
# mlp_dim, num_heads and patch_size set explicitly replace the variant's (None: the variant's).
_SIZES = dict(width=None, depth=None, mlp_dim=None, num_heads=None)
_COMPUTE = dict(remat_policy='none', scan_layers=False, dtype='auto', attention_impl='auto')

VIT_TOWER = dict(
    variant=REQUIRED, **_SIZES, patch_size=None, pool='cls',
    # big_vision's placement: `dropout` on the embeddings, the branch outputs and (mlp_dropout
    # None) inside the MLP; none on the attention probabilities.
    dropout=0.0, attention_dropout=0.0, mlp_dropout=None, drop_path=0.0, layer_norm_eps=1e-6,
    activation='gelu', patch_bias=True, pre_norm=False, layer_scale_init=0.0, **_COMPUTE)


def _text_tower(dropout: float) -> dict:
  """BERT's text encoder (also CLIP's text tower): sizes from the variant ('base', 'clip_b')."""
  return dict(
      variant=REQUIRED, **_SIZES, vocab_size=REQUIRED, max_len=512, type_vocab_size=2,
      embed_norm=True, causal=False, norm_first=False, activation='gelu', layer_norm_eps=1e-12,
      # BERT's placement: `dropout` (hidden_dropout_prob) on the embeddings and the branch
      # outputs, attention_dropout (the same rate unless set) on the attention
      # probabilities, none inside the MLP.
      dropout=dropout, attention_dropout=same_as('dropout'), mlp_dropout=0.0, drop_path=0.0,
      **_COMPUTE)


TEXT_TOWER = _text_tower(dropout=0.1)  # BERT's; CLIP's text tower has no dropout.


def _decoder_tower() -> dict:
  """A text decoder (the causal LM, the captioner's decoder) with GPT-2's defaults (dropout 0.1
  everywhere, tanh GELU, LayerNorm eps 1e-5, 1,024 positions); its layout (causal, pre-LN, no
  segments, no embedding LayerNorm) is fixed (models/causal_lm.py), so those are no fields."""
  fields = {k: v for k, v in _text_tower(dropout=0.1).items()
            if k not in ('causal', 'norm_first', 'type_vocab_size', 'embed_norm')}
  fields.update(activation='gelu_tanh', layer_norm_eps=1e-5, max_len=1024)
  return fields


DECODER_TOWER = _decoder_tower()


# The Transformer of Vaswani et al. 2017 (models/encoder_decoder.py): post-LN, ReLU, dropout 0.1
# on the embeddings and the branch outputs (the paper's P_drop), none inside attention or MLP;
# LayerNorm eps 1e-5, which the paper leaves open, as PyTorch's (Marian's, fairseq's).
ENCODER_DECODER = dict(
    name='encoder_decoder', variant=REQUIRED, **_SIZES, vocab_size=REQUIRED, norm_first=False,
    activation='relu', layer_norm_eps=1e-5, dropout=0.1, attention_dropout=0.0, mlp_dropout=0.0,
    **_COMPUTE)
# distillation: DeiT's distillation token and head (models/vit.py).
VIT = dict(name='vit', num_classes=REQUIRED, distillation=False, **VIT_TOWER)
# FT-Transformer (models/ft_transformer.py): the paper's default size (3 blocks, D 192, 8 heads)
# and dropout; mlp_dim 2D matches the parameters of its ReGLU MLP of 4/3 D.
FT_TRANSFORMER = dict(
    name='ft_transformer', num_numeric=REQUIRED, category_sizes=(),
    # The batches' categorical columns: len(category_sizes) (tasks read sizes from the config).
    num_categorical=Derived(lambda root, section: len(section['category_sizes']),
                            'len(category_sizes)'),
    num_outputs=REQUIRED, width=192, depth=3, num_heads=8, mlp_dim=384, layer_norm_eps=1e-5,
    dropout=0.0, attention_dropout=0.2, mlp_dropout=0.1, **_COMPUTE)
# Decision Transformer (models/decision_transformer.py): the paper's gym size (3 blocks, D 128,
# 1 head, ReLU MLP of 4D, dropout 0.1 everywhere, returns-to-go / 1000); returns=False is
# behaviour cloning with the same model.
DECISION_TRANSFORMER = dict(
    name='decision_transformer', state_dim=REQUIRED, num_actions=REQUIRED,
    max_timestep=REQUIRED, returns=True, return_scale=1000.0, width=128, depth=3, num_heads=1,
    mlp_dim=512, activation='relu', layer_norm_eps=1e-5, dropout=0.1,
    attention_dropout=same_as('dropout'), **_COMPUTE)
MODEL = Choice('name', REQUIRED, 'model', {
    'vit': VIT,
    'bert_pretraining': dict(name='bert_pretraining', **TEXT_TOWER),
    'causal_lm': dict(name='causal_lm', **DECODER_TOWER),
    'encoder_decoder': ENCODER_DECODER,
    'ft_transformer': FT_TRANSFORMER,
    'decision_transformer': DECISION_TRANSFORMER,
    'bert_classifier': dict(name='bert_classifier', **TEXT_TOWER,
                            num_classes=REQUIRED, head_dropout=same_as('dropout')),
    'clip': dict(
        name='clip', embed_dim=REQUIRED, text_pool='last', lock_image=False, lock_text=False,
        # None: the contrastive loss's own init (tasks/contrastive.py).
        logit_scale_init=None, logit_bias_init=None,
        image=VIT_TOWER, text=_text_tower(dropout=0.0)),
    # models/mae.py: the encoder a ViT tower; the paper's decoder (8 blocks, 512 wide, 16 heads)
    # and masking (75%, per-patch normalised pixel targets).
    'mae': dict(name='mae', encoder=VIT_TOWER, decoder_width=512, decoder_depth=8,
                decoder_num_heads=16, decoder_mlp_dim=2048, mask_ratio=0.75, norm_pix_loss=True),
    # models/captioner.py: the ViT's tokens, cross-attended by a text decoder.
    'captioner': dict(name='captioner', image=VIT_TOWER, text=DECODER_TOWER),
})

OPTIMIZER = dict(
    name=REQUIRED, lr=REQUIRED, warmup_steps=0, warmup_fraction=0.0, decay='cosine',
    end_lr_factor=0.0, grad_clip_norm=0.0, weight_decay=0.0, b1=0.9, b2=0.999, eps=1e-8,
    momentum=0.9, nesterov=False,
    frozen=())  # Regexes of params that are not updated (a locked tower).


_EVAL_DATA = Derived(lambda root, section: root.input.dataset, 'input.dataset')
_EVAL_SPLIT = Derived(lambda root, section: root.input.eval_split, 'input.eval_split')
# Every evaluation reads its own data at its own batch size (the trainer's for eval unless set).
_EVAL_BATCH = Derived(lambda root, section: root.input.eval_batch_size, 'input.eval_batch_size')
# ... and preprocesses its images with its own pp string (the trainer's eval one unless set; left
# out where the input has no images).
_EVAL_PP = Derived(lambda root, section: root.input.pp_eval, 'input.pp_eval')


def _evaluation(kind: str, **fields) -> dict:
  """An evaluation entry (evaluators/kinds/): every_steps 0 runs it only at the end of
  training; its data is `dataset` (input.dataset unless set) at `batch_size`, images
  preprocessed by `pp_eval`."""
  return dict(kind=kind, every_steps=0, dataset=_EVAL_DATA, batch_size=_EVAL_BATCH,
              pp_eval=_EVAL_PP, **fields)


EVALS = Choice('kind', REQUIRED, 'evaluation kind', {
    # The task's own metrics (its eval_sums), named <split>_<metric> as the trainer always has.
    'task_metrics': _evaluation('task_metrics', split=_EVAL_SPLIT),
    'knn': _evaluation('knn', train_split=REQUIRED, test_split=REQUIRED,
                       ks=(1, 3, 5, 7, 11, 21)),
    'linear_probe': _evaluation('linear_probe', train_split=REQUIRED, test_split=REQUIRED),
    'zero_shot': _evaluation('zero_shot', split=REQUIRED, templates=REQUIRED, class_names=()),
    'retrieval': _evaluation('retrieval', split=REQUIRED, templates=REQUIRED, class_names=()),
    'caption_retrieval': _evaluation('caption_retrieval', split=_EVAL_SPLIT, ks=(1, 5, 10)),
    # beam_size 1: greedy; max_len 0: the task's own target length.
    'generation': _evaluation('generation', split=_EVAL_SPLIT, beam_size=4, alpha=0.6,
                              max_len=0),
    # dataset: the environment; episodes per target return (targets are ignored by a model
    # without returns); sample=False takes the argmax action; episode i resets with seed + i.
    'rollout': _evaluation('rollout', targets=(100, 250, 500), episodes=10, sample=True,
                           seed=10_000),
})

# How each init kind resizes position embeddings to another patch grid unless its entry's
# `resize` says otherwise: as the source's own code does when it loads weights at another image
# size (timm and open_clip), resizes them at run time (HF's interpolate_pos_encoding, DINOv2),
# or as big_vision does (big_vision, vision_transformer, and big_uni's own checkpoints). The
# methods are models.vit.RESIZE_METHODS.
DEFAULT_RESIZE = {
    'checkpoint': 'big_vision',
    'big_vision_vit': 'big_vision',
    'hf_vit': 'bicubic_torch',
    'hf_clip': 'bicubic_torch',
    'dinov2': 'bicubic_torch',
    'timm_vit': 'bicubic_torch_antialias',
    'openai_clip': 'bicubic_torch_antialias',
    # Text position embeddings are never resized.
    'hf_bert': 'big_vision',
    'hf_gpt2': 'big_vision',
    'hf_marian': 'big_vision',
}


def _init_entry(kind: str) -> dict:
  """One config.init entry (pretrained.py): the weights at `path` (its `source` subtree) into
  the model's `target` subtree, every param but those matching `dont_load`."""
  entry = dict(kind=kind, path='', source='', target='', dont_load=(),
               resize=DEFAULT_RESIZE[kind])
  if kind == 'checkpoint':
    entry['step'] = None  # None: the latest.
  return entry


INIT = Choice('kind', REQUIRED, 'init kind', {kind: _init_entry(kind) for kind in DEFAULT_RESIZE})

CONFIG = dict(
    seed=REQUIRED, task=REQUIRED,
    total_steps=0,  # 0: from num_epochs and the train split's size.
    num_epochs=REQUIRED, label_smoothing=0.0, log_every_steps=REQUIRED,
    checkpoint_every_steps=REQUIRED, checkpoint_keep=3,
    # False: a non-finite loss or gradient stops the run; True: that step is skipped.
    skip_nonfinite_steps=False,
    grad_accum_steps=1,  # Micro-batches per step.
    profile_steps=0,  # A profiler trace of this many steps; 0: none.
    contrastive_loss='softmax',  # 'softmax' (CLIP) or 'sigmoid' (SigLIP).
    # The distillation task's frozen teacher (tasks/distillation.py), whose weights the
    # config.init entry with target 'teacher' loads: `model` is an imported teacher's ViT (left
    # out for a big_uni checkpoint, whose workdir's config.json names it).
    teacher=dict(model=Choice('name', 'vit', 'teacher model', {'vit': VIT})),
    mesh=dict(data=1, fsdp=1, tensor=1),  # Axis sizes; -1 takes the remaining devices.
    sharding_rules=FREE_MAPPING,
    model=MODEL, optimizer=OPTIMIZER, evals=Entries(EVALS), init=Entries(INIT),
    input=dataclasses.replace(INPUT, default=Derived(
        lambda root, section: _input_kind(root['task'] if 'task' in root else None), "the task's: Task.batch_fields")))


def _input_kind(task: str) -> str:
  """The input kind that gives the arrays `task` declares (its batch_fields)."""
  import input_pipeline  # pylint: disable=g-import-not-at-top
  from big_uni.tasks import base  # pylint: disable=g-import-not-at-top
  return input_pipeline.kind_giving(base.TASKS.get(task).batch_fields)


def _close(name: str, known, prefix: str) -> list[str]:
  return [prefix + m for m in difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)]


def _close_values(value, known) -> str:
  lower = {k.lower(): k for k in known}
  matches = [lower[m] for m in difflib.get_close_matches(str(value).lower(), list(lower), n=3,
                                                         cutoff=0.6)]
  return f' (did you mean {" or ".join(repr(m) for m in matches)}?)' if matches else ''


def _choose(choice: Choice, section, path: str, problems: list[str], root) -> dict | None:
  """The fields of `section` for its `choice.key` value, or None (a problem recorded)."""
  try:
    value = chosen(choice, section, root)
  except errors.UserInputError as e:  # The task its default follows is unknown.
    problems.append(f'config.{path}.{choice.key}: {e}')
    return None
  if value is REQUIRED:
    problems.append(f'config.{path} needs {choice.key}: one of {sorted(choice.sections)}')
    return None
  if not isinstance(value, str) or value not in choice.sections:
    problems.append(f'config.{path}.{choice.key}={value!r} is not an {choice.what}'
                    if choice.what[0] in 'aeiou' else
                    f'config.{path}.{choice.key}={value!r} is not a {choice.what}')
    problems[-1] += (f'{_close_values(value, choice.sections)}; known: '
                     f'{sorted(choice.sections)}')
    return None
  return choice.sections[value]


def _check(schema, section, path: str, problems: list[str], root) -> None:
  """Records a problem for each key of `section` (at dotted `path`) that `schema` lacks."""
  if isinstance(schema, Choice):
    schema = _choose(schema, section, path, problems, root)
    if schema is None:
      return
  prefix = f'{path}.' if path else ''
  for key in section.keys():
    if key not in schema:
      close = _close(key, schema, prefix)
      hint = (f'did you mean {" or ".join(close)}?' if close else
              f'{"config." + path if path else "the config"} has: {", ".join(sorted(schema))}')
      problems.append(f'unknown config key {prefix}{key} ({hint})')
      continue
    field, value = schema[key], section[key]
    if isinstance(field, Entries):
      if value is not None and _is_section(value):
        for name in value.keys():
          _check(field.entry, value[name], f'{prefix}{key}.{name}', problems, root)
    elif isinstance(field, (dict, Choice)):
      if _is_section(value):
        _check(field, value, prefix + key, problems, root)
      elif value is not None:
        problems.append(f'config.{prefix}{key} is a section of the config, not a '
                        f'{type(value).__name__}: set its fields one by one')


def problems(config) -> list[str]:
  """One message per key of `config` that the schema does not declare (and per unknown model
  name, input kind, evaluation kind or init kind, which decide the fields a section has)."""
  found = []
  _check(CONFIG, config, '', found, config)
  return found


def validate(config) -> None:
  """Raises a UserInputError naming every unknown key of `config` and its close matches."""
  found = problems(config)
  if found:
    raise errors.UserInputError('; '.join(found))


def complete(config):
  """Fills, in place, every field `config` leaves out with the schema's default; returns it.
  Only the fields the config sets differ between configs: the code reads the rest from here."""
  with _unlocked(config):
    _fill(CONFIG, config, config)
  return config
