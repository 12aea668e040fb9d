"""The evaluation kinds' registry, the task's metrics as one entry, and features any task
declares (BERT's pooled [CLS] through kNN and the probe)."""
import types

import pytest

from big_uni import config_schema, errors, train
from big_uni.evaluators import kinds, runner
from configs import bert_classify, common, vit_mnist5k

# train_and_evaluate's returned task metrics of the 4-step smoke runs on main before the task's
# metrics became an evaluation kind (Trainer.evaluate on input.eval_split).
BEFORE = {
    'vit': {'test_accuracy': 0.11, 'test_loss': 2.299845987955729,
            'test_top5_accuracy': 0.49666666666666665},
    'bert': {'test_accuracy': 0.5704772475027747, 'test_loss': 1.0982569822592951,
             'test_top5_accuracy': 1.0},
}


def test_an_unknown_kind_is_refused_naming_the_close_matches():
  with pytest.raises(errors.UserInputError, match=r"'kNN' is not registered \(did you mean "
                                                  r"'knn'\?"):
    kinds.get('kNN')
  assert kinds.names() == ['caption_retrieval', 'generation', 'knn', 'linear_probe',
                           'retrieval', 'rollout', 'task_metrics', 'zero_shot']


@pytest.mark.parametrize('name, module', [('vit', vit_mnist5k), ('bert', bert_classify)])
def test_task_metrics_entry_gives_the_numbers_of_before(tmp_path, name, module):
  config = module.get_config('smoke')
  # As a run reads it: the file may leave every_steps to the schema (0: at the end only).
  task = config_schema.complete(config.copy_and_resolve_references()).evals.task
  assert {k: task[k] for k in ('kind', 'every_steps')} == {'kind': 'task_metrics',
                                                           'every_steps': 0}
  for entry in [e for e in config.evals if e != 'task']:
    del config.evals[entry]
  metrics = train.train_and_evaluate(config, str(tmp_path))
  assert metrics == pytest.approx(BEFORE[name], rel=1e-6)


def test_knn_and_the_probe_read_bert_pooled_text_features():
  config = bert_classify.get_config('smoke')
  config.evals.update(common.feature_evals('tweets', train_split='train', test_split='test'))
  config.input.num_train_examples = 300  # A small gallery: the test is about the plumbing.
  trainer = train.Trainer(config)
  metrics = runner.run(trainer, trainer.init_state().params, names=['knn', 'linear_probe'])
  assert {'knn/knn_1_accuracy', 'knn/knn_21_weighted_accuracy',
          'linear_probe/test_accuracy'} <= set(metrics)
  assert all(0.0 <= metrics[k] <= 1.0 for k in metrics if k.endswith('accuracy'))


def test_an_evaluation_reads_images_with_its_own_pp_eval():
  """An entry's pp_eval is the trainer's input.pp_eval unless the entry sets its own; an input
  without images (BERT's) leaves it out."""
  config = vit_mnist5k.get_config('smoke')
  own = 'decode|resize|normalize(0.0, 1.0)|label_int32'
  config.evals.knn = dict(kind='knn', train_split='train', test_split='test', pp_eval=own)
  config_schema.validate(config)
  config = config_schema.complete(config)
  task = types.SimpleNamespace(feature_kinds=('image',))
  read = {name: kinds.get(entry.kind).input_config(config, task, entry).pp_eval
          for name, entry in config.evals.items()}
  assert read == {'task': config.input.pp_eval, 'knn': own} and own != config.input.pp_eval
  bert = config_schema.complete(bert_classify.get_config('smoke'))
  assert all('pp_eval' not in entry for entry in bert.evals.values())
