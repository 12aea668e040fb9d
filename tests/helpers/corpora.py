"""Text corpora the tests write: made-up words in `text_files:` documents."""
import numpy as np


def made_up_corpus(directory, *, seed: int, vocabulary: int, documents: int,
                   document_text) -> str:
  """Writes `documents` files 00.txt, 01.txt, ... of `document_text(rng, words)` over
  `vocabulary` made-up words into `directory`; returns the corpus's input.dataset."""
  rng = np.random.default_rng(seed)
  words = [''.join(rng.choice(list('abdeghiklmnoprstuw'), rng.integers(2, 9)))
           for _ in range(vocabulary)]
  for index in range(documents):
    (directory / f'{index:02d}.txt').write_text(document_text(rng, words))
  return f'text_files:{directory}/*.txt'
