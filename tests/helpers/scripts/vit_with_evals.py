"""The fault tests' run with evaluations: the ViT smoke run of reliability_runs.VIT (20 steps,
checkpoints every 5) that also evaluates every 10 steps: the task's own metrics and a kNN entry."""
from configs import vit_mnist5k


def get_config():
  config = vit_mnist5k.get_config('smoke')
  config.update(dict(total_steps=20, checkpoint_every_steps=5, log_every_steps=5))
  config.model.update(dict(dropout=0.1, drop_path=0.1))
  config.evals.task.every_steps = 10
  config.evals.knn = dict(kind='knn', train_split='train', test_split='test', ks=(1, 3),
                          every_steps=10)
  return config
