"""The design's test: a new task is one new module in big_uni/tasks/ plus its config."""
import importlib
import textwrap

from big_uni import tasks, train
from big_uni.tasks import base
from input_pipeline import registry

NEW_TASK = textwrap.dedent('''
    """A task only this test knows: classification with every label shifted by one."""
    from big_uni.tasks import base, classification

    @base.TASKS.register('shifted_classification')
    class ShiftedClassification(classification.ClassificationTask):

      def train_sums(self, params, batch, rng):
        labels = (batch['label'] + 1) % self.num_classes
        return super().train_sums(params, {**batch, 'label': labels}, rng)
''')


def test_one_new_module_is_a_task_the_trainer_runs(tmp_path, monkeypatch):
  (tmp_path / 'shifted_classification.py').write_text(NEW_TASK)
  monkeypatch.setattr(tasks, '__path__', [*tasks.__path__, str(tmp_path)])
  monkeypatch.setattr(base.TASKS, '_entries', dict(base.TASKS._entries))  # Gone after the test.
  registry.import_submodules('big_uni.tasks')  # What importing big_uni.tasks does.
  config = importlib.import_module('configs.vit_mnist5k').get_config('smoke')
  config.task = 'shifted_classification'
  config.total_steps = 2
  metrics = train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert type(tasks.build_task(config)).__name__ == 'ShiftedClassification'
  assert config.input.kind == 'image'  # Chosen by the batch it declares, as its parent's.
  assert 0 <= metrics['test_accuracy'] <= 1
