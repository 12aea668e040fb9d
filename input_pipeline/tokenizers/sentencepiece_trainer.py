"""Training a sentencepiece unigram model for BERT on a text corpus, cached on disk."""
import hashlib
import io
import json
import os
import re

import sentencepiece as spm

from input_pipeline import text_corpora
from input_pipeline.tokenizers import base

CACHE_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'big_uni', 'tokenizers')
# Bumped when the training recipe changes, so that old cached models are not reused.
_RECIPE_VERSION = 1
# sentencepiece samples this many sentences of larger corpora (Austen has 31k).
_MAX_TRAINING_SENTENCES = 2_000_000


def train_sentencepiece(corpus: str, vocab_size: int, *, lowercase: bool = False,
                        output: str | None = None, cache_dir: str = CACHE_DIR) -> str:
  """Path of a sentencepiece unigram model trained on the 'train' documents of `corpus`.

  Without `output` the model is cached in `cache_dir` under a hash of the corpus name and the
  options, and reused; the file is written under a temporary name and renamed, so concurrent
  processes never read half a model. Training is deterministic (Austen, 8k pieces: ~1.5 s).
  The cache key is the corpus *name*: delete the file if the files of a text_files: corpus change.
  """
  options = dict(model_type='unigram', vocab_size=vocab_size, pad_id=0, unk_id=1, bos_id=-1,
                 eos_id=-1, user_defined_symbols=list(base.SPECIAL_PIECES),
                 input_sentence_size=_MAX_TRAINING_SENTENCES, shuffle_input_sentence=True,
                 max_sentence_length=1 << 16)
  if output is None:
    key = json.dumps([corpus, lowercase, options, _RECIPE_VERSION, spm.__version__])
    name = re.sub(r'[^A-Za-z0-9.]+', '_', corpus)[:40]
    output = os.path.join(cache_dir, f'{name}-{vocab_size}-'
                                     f'{hashlib.sha256(key.encode()).hexdigest()[:16]}.model')
    if os.path.exists(output):
      return output
  # Streamed: sentencepiece keeps a uniform sample of input_sentence_size sentences (reservoir
  # sampling), so memory is bounded however large the corpus.
  sentences = (s.lower() if lowercase else s
               for _, document in text_corpora.iter_documents(corpus, splits=('train',))
               for s in document)
  spm.set_random_generator_seed(0)  # The sample of large corpora.
  model = io.BytesIO()
  with open(os.devnull, 'w') as log:
    spm.SentencePieceTrainer.train(sentence_iterator=sentences, model_writer=model,
                                   logstream=log, **options)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  partial = f'{output}.{os.getpid()}.partial'
  with open(partial, 'wb') as f:
    f.write(model.getvalue())
  os.replace(partial, output)
  return output
