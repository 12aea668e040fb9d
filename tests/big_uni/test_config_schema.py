"""The closed config schema: an unknown key anywhere is refused before anything runs, naming its
close matches; every config file and every variant its docstring names validates."""
import importlib
import os
import re
import subprocess
import sys
import textwrap

from absl import flags
import ml_collections
from ml_collections import config_flags
import pytest

from big_uni import config_schema, errors, models, overrides, pretrained, train
from big_uni.evaluators import kinds
import input_pipeline
from input_pipeline import pp
from tests.helpers import CONFIG_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _variants(name: str) -> dict:
  """{variant: config} of the default and of every word or comma-joined `key=value` items of the
  module's docstring that get_config accepts as a variant (and smoke, which every config offers)."""
  module = importlib.import_module(f'configs.{name}')
  item = r'[A-Za-z_]\w*(?:=\w+)?'
  words = set(re.findall(rf'{item}(?:,{item})*', module.__doc__ or '')) | {'smoke'}
  found = {'(default)': module.get_config()}
  for word in sorted(words):
    try:
      found[word] = module.get_config(word)
    except ValueError as e:
      if 'unknown variant' not in str(e):
        raise
  return found


def test_variants_are_read_from_the_docstrings():
  assert {'data=imagenet', 'smoke', 'data=mnist5k'} <= set(_variants('vit_b16'))
  assert {'task=tweets,init=minilm', 'novels,init=scratch', 'task=mrpc'} <= set(
      _variants('bert_classify'))
  assert {'image=dinov2', 'image=dinov2,text=minilm', 'templates=7'} <= set(
      _variants('clip_fashion_mnist'))
  assert {'phase=2'} <= set(_variants('bert_austen'))


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_every_config_and_variant_validates(name):
  for variant, config in _variants(name).items():
    assert config_schema.problems(config) == [], f'{name}:{variant}'


def test_schema_kinds_are_the_registries():
  """A model, input pipeline, evaluation or init kind added to the code is added here too."""
  assert set(config_schema.MODEL.sections) == set(models.MODELS)
  assert set(config_schema.INPUT.sections) == set(input_pipeline.KINDS)
  assert set(config_schema.EVALS.sections) == set(kinds.names())
  assert set(config_schema.INIT.sections) == set(pretrained.KINDS)


def _smoke():
  return importlib.import_module('configs.vit_mnist5k').get_config('smoke')


def test_every_unknown_key_is_named_with_its_close_matches():
  config = _smoke()
  config.input.batchsize = 8
  config.model.drop_pth = 0.1
  config.optimizer.warmup_step = 5
  config.evals = ml_collections.ConfigDict({'knn': dict(
      kind='knn', train_split='train', test_spilt='test')})
  config.init = ml_collections.ConfigDict({'backbone': dict(kind='checkpoint', paht='/tmp/x')})
  with pytest.raises(errors.UserInputError) as raised:
    config_schema.validate(config)
  message = str(raised.value)
  for expected in ('unknown config key input.batchsize (did you mean input.batch_size',
                   'unknown config key model.drop_pth (did you mean model.drop_path',
                   'unknown config key optimizer.warmup_step (did you mean '
                   'optimizer.warmup_steps',
                   'unknown config key evals.knn.test_spilt (did you mean evals.knn.test_split?)',
                   'unknown config key init.backbone.paht (did you mean init.backbone.path?)'):
    assert expected in message
  assert '\n' not in message


def test_fields_follow_the_model_family_and_the_kinds():
  """A field of another family or kind is unknown: a ViT has no vocab_size, a BERT no
  patch_size, CLIP's towers are sections of their own; a misspelled kind names the real one."""
  config = _smoke()
  config.model.vocab_size = 1000
  config.input.kind = 'image_txt'
  config.evals = ml_collections.ConfigDict({'probe': dict(kind='linear_prob')})
  config.init = ml_collections.ConfigDict({'vit': dict(kind='hf_vitt')})
  message = '; '.join(config_schema.problems(config))
  assert 'unknown config key model.vocab_size' in message
  assert ("config.input.kind='image_txt' is not an input kind (did you mean 'image_text'"
          in message)
  assert ("config.evals.probe.kind='linear_prob' is not an evaluation kind (did you mean "
          "'linear_probe'?)") in message
  assert "config.init.vit.kind='hf_vitt' is not an init kind (did you mean 'hf_vit'?)" in message
  bert = importlib.import_module('configs.bert_base').get_config('smoke')
  bert.model.patch_size = 4
  assert [p.split(' (')[0] for p in config_schema.problems(bert)] == [
      'unknown config key model.patch_size']
  clip = importlib.import_module('configs.clip_b16').get_config('smoke')
  clip.model.text.patch_size = 4
  clip.model.image.drop_path = 0.1  # The image tower is a ViT: it has drop_path.
  assert [p.split(' (')[0] for p in config_schema.problems(clip)] == [
      'unknown config key model.text.patch_size']


def test_programmatic_training_refuses_an_init_typo_before_making_the_workdir(tmp_path):
  config = _smoke()
  config.input.dataset = 'synthetic'
  config.init = ml_collections.ConfigDict({'backbone': dict(kind='checkpoint', paht='/tmp/x')})
  with pytest.raises(errors.UserInputError, match=r'init\.backbone\.paht \(did you mean '
                                                  r'init\.backbone\.path\?\)'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def _cli(tmp_path, body: str, *args):
  """`python -m big_uni.main --mode=shapes` on a config file whose get_config runs `body`."""
  path = tmp_path / 'typo_config.py'
  path.write_text('import ml_collections\n\nfrom configs import common\n\n\n'
                  'def get_config():\n  config = common.smoke(common.base())\n'
                  + textwrap.indent(textwrap.dedent(body), '  ') + '  return config\n')
  return subprocess.run([sys.executable, '-m', 'big_uni.main', f'--config={path}',
                         '--mode=shapes', *args], capture_output=True, text=True, cwd=ROOT,
                        env={**os.environ, 'PYTHONPATH': ROOT})


def _one_line_error(out) -> str:
  assert out.returncode == 1, (out.stdout, out.stderr)
  assert 'Traceback' not in out.stderr and 'total_params' not in out.stdout
  lines = [line for line in out.stderr.splitlines() if line.startswith('error: ')]
  assert len(lines) == 1, out.stderr
  return lines[0]


def test_cli_refuses_misspelled_keys_in_a_config_file(tmp_path):
  """Before the schema this ran with exit 0 at batch 32, drop_path 0.0 and 1 warmup step."""
  line = _one_line_error(_cli(tmp_path, """
      config.input.batchsize = 8
      config.model.drop_pth = 0.1
      config.optimizer.warmup_step = 5
      """))
  for key, match in (('input.batchsize', 'input.batch_size'),
                     ('model.drop_pth', 'model.drop_path'),
                     ('optimizer.warmup_step', 'optimizer.warmup_steps')):
    assert re.search(rf'unknown config key {key} \(did you mean [^)]*\b{match}\b', line), line


def test_cli_refuses_a_misspelled_key_in_an_evals_entry(tmp_path):
  line = _one_line_error(_cli(tmp_path, """
      config.evals = common.feature_evals('digits', 'train', 'test')
      config.evals.knn.kss = (1, 3)
      """))
  assert 'unknown config key evals.knn.kss (did you mean evals.knn.ks?)' in line


def test_cli_refuses_a_misspelled_key_in_an_init_entry(tmp_path):
  line = _one_line_error(_cli(tmp_path, """
      config.init = ml_collections.ConfigDict({'backbone': dict(
          kind='checkpoint', path='/tmp/run', dont_laod=('head/.*',))})
      """))
  assert ('unknown config key init.backbone.dont_laod (did you mean init.backbone.dont_load?)'
          in line)


def test_cli_refuses_a_misspelled_kind_in_an_override(tmp_path):
  """The value that picks a section's fields: the model family (a traceback before)."""
  line = _one_line_error(_cli(tmp_path, '', '--config.model.name=vitt'))
  assert "config.model.name='vitt' is not a model (did you mean 'vit'?)" in line


def test_complete_fills_every_default_once_and_keeps_what_the_config_sets():
  config = importlib.import_module('configs.vit_mnist5k').get_config()
  config.model.dropout = 0.2
  assert 'attention_impl' not in config.model  # The file leaves the schema's defaults out.
  before = config.to_dict()
  assert config_schema.complete(config) is config
  assert config_schema.problems(config) == []
  after = config.to_dict()
  for section in ('model', 'input', 'optimizer'):
    assert {k: v for k, v in after[section].items() if k in before[section]} == before[section]
  assert config.model.attention_impl == 'auto' and config.model.mlp_dropout is None
  assert config.model.width is None  # The variant's.
  assert config.input.eval_examples == 1024 and config.optimizer.frozen == ()
  assert config_schema.complete(config).to_dict() == after  # Idempotent.


def test_derived_defaults_follow_their_field():
  config = ml_collections.ConfigDict(dict(
      model=dict(name='bert_classifier', variant='mini', vocab_size=100, num_classes=3,
                 dropout=0.2),
      input=dict(kind='text_classification', batch_size=8,
                 tokenizer=dict(kind='wordpiece', vocab_size=100))))
  config_schema.complete(config)
  assert config.model.attention_dropout == config.model.head_dropout == 0.2
  assert config.input.eval_batch_size == 8 and config.input.tokenizer.lowercase
  assert config.mesh.to_dict() == {'data': 1, 'fsdp': 1, 'tensor': 1}
  assert 'image' not in config.model and 'tokenizer' in config.input
  model = models.build_model(config.model)
  assert model.dropout == 0.2 and model.text.block.attention_dropout == 0.2


def test_the_data_layer_completes_its_own_section():
  """input_pipeline cannot import big_uni: its part of the schema lives there, and big_uni's
  builds on it (one declaration of each input default; only the kind's default, the task's
  pipeline, needs big_uni's tasks)."""
  from input_pipeline import config_schema as input_schema  # pylint: disable=g-import-not-at-top
  assert config_schema.INPUT is input_schema.INPUT
  assert config_schema.CONFIG['input'].sections is input_schema.INPUT.sections
  tokenizer = input_schema.completed(
      ml_collections.ConfigDict(dict(kind='wordpiece', vocab_size=10)), input_schema.TOKENIZER)
  assert tokenizer.lowercase and tokenizer.path == '' and tokenizer.cache_dir == ''
  text = input_schema.completed(
      ml_collections.ConfigDict(dict(kind='bert_pretraining', dataset='austen')),
      input_schema.INPUT)
  mask_prob = pp.arguments(text.pp_train, 'mask_tokens')['mask_prob']  # An op's argument.
  assert (text.max_seq_len, mask_prob, text.max_predictions) == (128, 0.15, 20)
  assert 'eval_batch_size' not in text  # It follows batch_size, which is not set either.


def test_a_section_missing_a_required_field_is_not_made_up():
  """input.tokenizer (its kind) has no default: left out, it stays out (code tests for it)."""
  config = _smoke()
  config_schema.complete(config)
  assert 'tokenizer' not in config.input and 'image' not in config.model


# Modules that read their sections' defaults from the schema, not from `.get(key, default)`.
SCHEMA_READERS = ('big_uni/models/__init__.py', 'big_uni/models/bert.py',
                  'big_uni/models/text.py', 'big_uni/optim.py',
                  'big_uni/tasks/classification.py', 'big_uni/tasks/text_classification.py',
                  'big_uni/tasks/contrastive.py', 'benchmarks/bench_peers.py', 'big_uni/train.py',
                  'big_uni/data.py', 'big_uni/clu_logging.py', 'big_uni/sharding.py',
                  'big_uni/preflight.py', 'big_uni/pretrained.py', 'big_uni/aot.py',
                  *(f'input_pipeline/{name}.py' for name in (
                      '__init__', 'bert_pretraining', 'caption_sources', 'image_text', 'images',
                      'text_preparation', 'pp', 'ops/text', 'sources', 'text_classification',
                      'tokenizers/__init__', 'tokenizers/sentencepiece_tokenizer',
                      'tokenizers/wordpiece_tokenizer', 'tokenizers/clip_bpe_tokenizer')))


@pytest.mark.parametrize('path', SCHEMA_READERS)
def test_no_default_is_repeated_in_the_code(path):
  with open(os.path.join(ROOT, path)) as f:
    source = f.read()
  assert not re.findall(r'\b\w*config\w*(?:\.\w+)*\.get\(', source)


def _parsed(*argv):
  """The config main.py's flags make of `argv`: the file, then the overrides, then the rest of
  the schema's defaults."""
  argv = ['main', *argv]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', flag_values=values, sys_argv=argv)
  values['config'].parser = overrides.ConfigFileParser(values['config'].parser, argv)
  values(argv)
  return config_schema.complete(values.config)


def test_an_override_sets_a_field_the_file_leaves_to_the_schema():
  """The files set no head_dropout or attention_dropout (they follow dropout), no
  num_train_examples, on_corrupt_image or width (None: the variant's), and bert_base.py no
  eval_batch_size (it follows batch_size, overridden or not)."""
  config = _parsed('--config=configs/bert_classify.py:smoke', '--config.model.head_dropout=0.3',
                   '--config.input.num_train_examples=100', '--config.model.attention_dropout=0.2')
  assert (config.model.head_dropout, config.model.attention_dropout) == (0.3, 0.2)
  assert config.model.dropout == 0.1 and config.input.num_train_examples == 100
  config = _parsed('--config=configs/vit_mnist5k.py', '--config.input.on_corrupt_image=skip',
                   '--config.input.batch_size=64', '--config.model.width=32')
  assert config.input.on_corrupt_image == 'skip' and config.model.width == 32
  assert config_schema.problems(config) == []
  config = _parsed('--config=configs/bert_base.py', '--config.input.batch_size=8')
  assert config.input.eval_batch_size == 8  # Still following batch_size: filled afterwards.


def test_cli_override_of_a_field_the_file_leaves_out_is_used():
  """vit_b16.py sets no width, mlp_dim or num_heads (B/16's); the run builds the smaller model."""
  out = subprocess.run([sys.executable, '-m', 'big_uni.main', '--config=configs/vit_b16.py',
                        '--mode=shapes', '--config.model.width=64', '--config.model.mlp_dim=128',
                        '--config.model.num_heads=2', '--config.model.drop_path=0.1'],
                       capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, 'PYTHONPATH': ROOT})
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip().splitlines()[-1] == 'total_params=528680'


def test_cli_refuses_an_override_the_schema_does_not_declare(tmp_path):
  """Named with its close matches, fields the file leaves to the schema included."""
  line = _one_line_error(_cli(tmp_path, '', '--config.input.on_corupt_image=skip'))
  assert line.startswith('error: unknown config key --config.input.on_corupt_image'), line
  assert line.endswith('did you mean --config.input.on_corrupt_image?'), line


@pytest.mark.parametrize('name, kind', [
    ('vit_mnist5k', 'image'), ('clip_fashion_mnist', 'image_text'),
    ('bert_austen', 'bert_pretraining'), ('bert_classify', 'text_classification')])
def test_the_input_kind_is_the_pipeline_giving_the_tasks_batch(name, kind):
  """Configs leave input.kind out: it is the pipeline that gives the arrays the task declares."""
  config = importlib.import_module(f'configs.{name}').get_config('smoke')
  assert 'kind' not in config.input
  assert config_schema.complete(config).input.kind == kind


def test_an_input_kind_for_arrays_no_pipeline_gives_is_refused():
  import input_pipeline  # pylint: disable=g-import-not-at-top
  assert input_pipeline.kind_giving(['image', 'label']) == 'image'
  with pytest.raises(errors.UserInputError, match=r"no input pipeline gives the arrays \['pixels'\]"):
    input_pipeline.kind_giving(['pixels'])
