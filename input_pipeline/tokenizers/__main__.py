"""Trains a sentencepiece model for BERT and shows how it tokenizes a sample sentence:

    python -m input_pipeline.tokenizers --corpus=austen --vocab_size=8000 --output=/tmp/austen_8k.model
"""
import argparse
import time

from input_pipeline.tokenizers import sentencepiece_tokenizer, sentencepiece_trainer

_SAMPLE_TEXT = ('It is a truth universally acknowledged, that a single man in possession of a good '
                'fortune, must be in want of a wife.')


def main():
  parser = argparse.ArgumentParser(prog='python -m input_pipeline.tokenizers',
                                   description='Train a sentencepiece model for BERT.')
  parser.add_argument('--corpus', default='austen', help='a text_corpora name')
  parser.add_argument('--vocab_size', type=int, default=8000)
  parser.add_argument('--lowercase', action='store_true')
  parser.add_argument('--output', required=True, help='where the .model file goes')
  args = parser.parse_args()
  start = time.perf_counter()
  path = sentencepiece_trainer.train_sentencepiece(args.corpus, args.vocab_size,
                                                   lowercase=args.lowercase, output=args.output)
  seconds = time.perf_counter() - start
  tokenizer = sentencepiece_tokenizer.SentencePieceTokenizer.from_file(path, args.lowercase)
  ids = tokenizer.encode(_SAMPLE_TEXT)
  print(f'wrote {path}: vocab_size={tokenizer.vocab_size} (corpus and training {seconds:.1f} s)')
  print(f'{len(ids)} tokens: {" ".join(tokenizer.pieces[i] for i in ids)}')


if __name__ == '__main__':
  main()
