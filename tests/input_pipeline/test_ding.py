"""The Ding dictionary's sentence pairs: the reader on hand-written entries, and the figures of the
real file where Debian trans-de-en is installed."""
import os

from input_pipeline import ding, text_corpora
from tests.helpers import requires

needs_ding = requires(os.path.exists(text_corpora.DING_DE_EN), 'apt-get install trans-de-en')

_ENTRIES = [
    '# Version :: test',
    'Abend {m} | Noch ist nicht aller Tage Abend.; Man soll den Tag nicht loben. :: '
    "evening | It's not over until it's over.; It ain't over. [Am.]",
    'Achtung! (Befehl) [mil.] | Rührt Euch! :: Attention! (order) | At ease!',
    'Creme {f} | Diese Creme zieht schnell (in die Haut) ein. :: '
    'cream | This cream is quickly absorbed (by the skin).',
    'Reise {f} | Gute Reise! :: trip | Have a nice trip!',
    'Fahrt {f} | Gute Reise! :: journey | Bon voyage!',
    'das A und O [ugs.] :: the nuts and bolts [coll.]',
]

def test_sentences_of_both_sides_without_annotations_glosses_or_repeats():
  pairs = ding.sentence_pairs(line + '\n' for line in _ENTRIES)
  assert pairs == [
      ('Noch ist nicht aller Tage Abend.', "It's not over until it's over."),  # First alternatives.
      ('Achtung!', 'Attention!'),  # The gloss after the sentence and the field tag go.
      ('Rührt Euch!', 'At ease!'),
      ('Diese Creme zieht schnell (in die Haut) ein.',  # Brackets inside a sentence stay.
       'This cream is quickly absorbed (by the skin).'),
      ('Gute Reise!', 'Have a nice trip!'),  # Its second appearance is left out.
  ]


@needs_ding
def test_ding_figures():
  pairs = text_corpora.ding_pairs()
  assert len(pairs) == 21390
  assert ('Gute Reise!', 'Have a nice trip!') in pairs
  splits = [text_corpora.split_of(i) for i in range(len(pairs))]
  assert [splits.count(s) for s in text_corpora.SPLITS] == [19251, 1070, 1069]
  assert len({de for de, _ in pairs}) == len({en for _, en in pairs}) == len(pairs)  # No repeats.
  # The text corpus of the shared vocabulary: the pairs of 'train', German then English.
  assert text_corpora.load_documents('ding_de_en', 'test')[0] == list(pairs[19])
