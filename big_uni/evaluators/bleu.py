"""Corpus BLEU of translations, as papers report it: sacrebleu's, on detokenized text.

sacrebleu tokenizes hypotheses and references itself (13a, the WMT standard: mteval-v13a's
punctuation splitting), so scores compare across papers and vocabularies; tokenized BLEU of the
model's own pieces would not. The Transformer paper's 27.3 / 28.4 (EN-DE base / big) are
tokenized BLEU (multi-bleu.perl, compounds split), not directly comparable (Post, 2018).
"""
import sacrebleu


def corpus_bleu(hypotheses: list[str], references: list[str],
                *more_references: list[str]) -> float:
  """BLEU (0-100) of `hypotheses` against `references` (one per hypothesis, in order) and any
  further reference sets of the same length (sacrebleu defaults: 13a tokenization, exponential
  smoothing of zero n-gram counts, brevity penalty over the corpus)."""
  streams = [list(references), *map(list, more_references)]
  if any(len(s) != len(hypotheses) for s in streams):
    raise ValueError(f'{len(hypotheses)} hypotheses but references of lengths '
                     f'{[len(s) for s in streams]}: one reference per hypothesis')
  return sacrebleu.corpus_bleu(list(hypotheses), streams, tokenize='13a').score
