"""Start-up checks: every problem a run would meet later is reported at once, before training."""
import ml_collections
import numpy as np
import pytest

from big_uni import errors, preflight, tasks, train
from configs import bert_austen, vit_mnist5k


def _problems(config) -> str:
  with pytest.raises(errors.UserInputError) as raised:
    preflight.check(config, tasks.build_task(config))
  return str(raised.value)


def test_a_good_config_passes():
  config = vit_mnist5k.get_config('smoke')
  config.evals = ml_collections.ConfigDict({'knn': dict(
      kind='knn', train_split='train', test_split='test', ks=(1, 3))})
  preflight.check(config, tasks.build_task(config))


def test_every_problem_is_listed_at_once():
  config = vit_mnist5k.get_config('smoke')
  config.evals = ml_collections.ConfigDict({
      'knn': dict(kind='kNN', train_split='train', test_split='test'),
      'probe': dict(kind='linear_probe', train_spilt='train', test_split='test'),
      'zero_shot': dict(kind='zero_shot', split='test', templates=('a {label}',))})
  config.model.update(width=33, num_heads=2)
  config.input.batch_size = 0
  message = _problems(config)
  assert message.startswith('6 problem(s) found before training')
  for expected in ("input.batch_size=0", "model.width=33 is not divisible by model.num_heads=2",
                   "config.evals.knn.kind='kNN' is not an evaluation kind (did you mean 'knn'?)",
                   "config.evals.probe.train_spilt is not a field of a linear_probe evaluation "
                   "(did you mean 'train_split'?)",
                   'config.evals.probe (linear_probe) needs train_split',
                   'zero_shot needs a text tower; the classification task has none'):
    assert expected in message


def test_negative_sizes_are_named():
  config = vit_mnist5k.get_config('smoke')
  config.model.width = -64
  assert 'model.width=-64: sizes must be positive' in _problems(config)


def test_more_classes_in_the_data_than_the_model_has(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for split in ('train', 'test'):
    for label in range(12):
      folder = tmp_path / split / f'class{label:02d}'
      folder.mkdir(parents=True)
      image = np.full((8, 8, 3), label * 20, np.uint8)
      (folder / 'a.png').write_bytes(tf.io.encode_png(image).numpy())
  config = vit_mnist5k.get_config('smoke')
  config.input.update(dataset=f'image_folder:{tmp_path}', train_split='train', eval_split='test')
  assert ("has 12 classes but model.num_classes=10: set model.num_classes=12"
          in _problems(config))


def test_a_missing_split_is_named():
  config = vit_mnist5k.get_config('smoke')
  config.evals = ml_collections.ConfigDict({'knn': dict(
      kind='knn', train_split='train', test_split='valdation')})
  assert "config.evals.knn.test_split='valdation'" in _problems(config)


def test_a_corpus_too_small_for_its_validation_split(tmp_path):
  for name in ('a', 'b'):
    (tmp_path / f'{name}.txt').write_text('One sentence here. Another one there.\n\n' * 3)
  config = bert_austen.get_config('smoke')
  config.input.dataset = f'text_files:{tmp_path}/*.txt'
  message = _problems(config)
  assert "input.eval_split='validation'" in message and 'has no text' in message


def test_the_trainer_checks_before_the_first_step(tmp_path):
  """An evaluation entry with a typo used to fail after all training, before the final save."""
  config = vit_mnist5k.get_config('smoke')
  config.evals = ml_collections.ConfigDict({'knn': dict(
      kind='kNN', train_split='train', test_split='test')})
  with pytest.raises(errors.UserInputError, match=r"config.evals.knn.kind='kNN'"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / 'checkpoints').exists() and not (tmp_path / 'metrics.jsonl').exists()


def test_pp_strings_are_checked_before_training():
  """A misspelled op, an argument an op does not take and a per-example op after a batch op,
  in the trainer's pp strings and an evaluation's own, all before anything runs."""
  config = vit_mnist5k.get_config('smoke')
  config.input.pp_train = 'decode|pad_crop(1)|flip_lrr|label_int32'
  config.input.pp_eval = 'decode|center_crop(sise=8)|label_int32'
  config.evals = ml_collections.ConfigDict({'knn': dict(
      kind='knn', train_split='train', test_split='test', ks=(1,),
      pp_eval='decode|label_int32|tokenize|normalize(0.5, 0.5)')})
  problems = _problems(config)
  assert "config.input.pp_train: preprocessing op 'flip_lrr' is not registered (did you mean " \
         "'flip_lr'?" in problems
  assert "config.input.pp_eval: pp op center_crop(sise=8)" in problems
  assert ('config.evals.knn.pp_eval: pp ' in problems
          and 'normalize(0.5, 0.5) runs on one example, after the batch op tokenize' in problems)
