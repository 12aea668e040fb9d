"""The sentence pairs of Ding, the German-English dictionary of TU Chemnitz (Debian `trans-de-en`,
GPL-2+): a real parallel corpus that installs offline.

Its file has one entry a line, 'German :: English'; an entry's senses and examples are
' | '-separated on both sides, in the same order, and a sense's alternatives '; '-separated:

  Abgemacht!; Ist geritzt! [ugs.] :: Done!; It's a deal! [coll.]

Most senses are words and phrases; the ones whose two sides are both sentences (~18k, mostly
the dictionary's example sentences) are the corpus. Pure Python.
"""
import re

# Grammar {m}, usage and field [ugs.] [Br.], and search spellings <...>: not part of the text.
_ANNOTATIONS = re.compile(r'\s*(\{[^}]*\}|\[[^\]]*\]|<[^>]*>)')
# Glosses after a sentence: 'Achtung! (Befehl)', 'Done! (used to express assent)'.
_TRAILING_GLOSSES = re.compile(r'(\s*\([^()]*\))+$')
# A sentence: a capital, digit or opening quote first; . ! ? or … last (closing quotes after).
_SENTENCE = re.compile('["\'\u201e\u201c\u201a\u2018\u00bb]?[0-9A-Z\u00c4\u00d6\u00dc]'
                       '.*[.!?\u2026]["\'\u201c\u201d\u2018\u2019\u00ab]?')


def clean(text: str) -> str:
  """A sense's text without annotations, trailing glosses and runs of spaces."""
  text = _TRAILING_GLOSSES.sub('', _ANNOTATIONS.sub('', text))
  return ' '.join(text.split())


def sentence_pairs(lines) -> list[tuple[str, str]]:
  """(German, English) of every sense whose first alternatives are sentences on both sides, in
  file order; a pair whose German or English sentence came earlier is left out (the same example
  serves several headwords), so the splits of the corpus share no sentence."""
  pairs, seen = [], set()
  for line in lines:
    if line.startswith('#') or ' :: ' not in line:
      continue
    german, english = line.rstrip('\n').split(' :: ', 1)
    senses = zip(german.split(' | '), english.split(' | '), strict=False)
    for german_sense, english_sense in senses:
      de = clean(german_sense.split('; ')[0])
      en = clean(english_sense.split('; ')[0])
      if (_SENTENCE.fullmatch(de) and _SENTENCE.fullmatch(en) and de not in seen
          and en not in seen):
        seen.update((de, en))
        pairs.append((de, en))
  return pairs
