"""The translation recipes' data and optimizer: the Transformer paper's (Vaswani et al., 2017)
on WMT14, and Ding's German-English sentence pairs offline (the model sections are the
encoder-decoder's own)."""
import ml_collections


def sentencepiece_vocabulary(dataset: str, vocab_size: int) -> ml_collections.ConfigDict:
  """One sentencepiece vocabulary for both languages, trained on both sides of `dataset`'s
  training pairs (cached)."""
  return ml_collections.ConfigDict(dict(kind='sentencepiece', train_corpus=dataset,
                                        vocab_size=vocab_size))


def wmt14_input(source_language: str = 'en', target_language: str = 'de',
                batch_size: int = 1024) -> ml_collections.ConfigDict:
  """TFDS wmt14_translate/de-en, English to German by default as in the paper: 4.5M training
  pairs, newstest2013 for validation, newstest2014 for test; a shared 37k vocabulary (the paper's
  ~37k BPE, here sentencepiece). It downloads (input.download=True) or is prepared with `tfds
  build wmt14_translate/de-en --data_dir=...`. The paper batched ~25k source and 25k target
  tokens, not a number of pairs."""
  return ml_collections.ConfigDict(dict(
      kind='translation', dataset='wmt14_translate/de-en', source_language=source_language,
      target_language=target_language, train_split='train', eval_split='validation',
      max_source_len=256, max_target_len=256, batch_size=batch_size,
      tokenizer=sentencepiece_vocabulary('wmt14_translate/de-en', 37000)))


def ding_input(vocab_size: int = 8000, batch_size: int = 64) -> ml_collections.ConfigDict:
  """Ding's 21k German-English sentence pairs (Debian trans-de-en), German to English, pairs of
  up to 32 tokens a side (with 8k pieces, 205 of the 19,251 training pairs are longer and left
  out; 4k pieces leave out 496)."""
  return ml_collections.ConfigDict(dict(
      kind='translation', dataset='ding_de_en', source_language='de', target_language='en',
      train_split='train', eval_split='validation', max_source_len=32, max_target_len=32,
      batch_size=batch_size, tokenizer=sentencepiece_vocabulary('ding_de_en', vocab_size)))


def paper_optimizer(d_model: int = 512, warmup_steps: int = 4000) -> ml_collections.ConfigDict:
  """Adam (b2 0.98, eps 1e-9) with the paper's lr = d_model^-0.5 * min(step^-0.5,
  step * warmup^-1.5): decay='inverse_sqrt' peaking at (d_model * warmup)^-0.5 (6.99e-4 for the
  base model's 512 and 4000). The paper has no weight decay and no gradient clipping."""
  return ml_collections.ConfigDict(dict(
      name='adamw', lr=(d_model * warmup_steps) ** -0.5, warmup_steps=warmup_steps,
      decay='inverse_sqrt', b1=0.9, b2=0.98, eps=1e-9, weight_decay=0.0))
