"""Parallel corpora: the (source, target) sentence pairs that translation.py reads.

  ding_de_en    the 21,390 German-English sentence pairs of the Ding dictionary (Debian
                trans-de-en, GPL-2+; ding.py), languages 'de' and 'en'. Pair i is document i of
                the text corpus 'ding_de_en', so it is held out as documents are
                (text_corpora.split_of: 1 in 20 'validation', 1 in 20 'test', ~19.3k 'train'),
                and a vocabulary trained on that corpus has seen both sides of 'train' only.
  ding_en_reversed  ALGORITHMIC, not translation: each English sentence of ding_de_en ('en') and
                its words in reverse order ('reversed'), with ding_de_en's splits. It checks that an
                encoder-decoder learns to align through cross-attention, in minutes on a CPU.
  <TFDS name>   a TFDS translation dataset, e.g. 'wmt14_translate/de-en' (4.5M train pairs;
                'validation' is newstest2013, 'test' newstest2014), one text field a language,
                with the dataset's own splits; it downloads (input.download) or is prepared
                with `tfds build`.
"""
from input_pipeline import errors, text_corpora

DING_LANGUAGES = ('de', 'en')
REVERSED_LANGUAGES = ('en', 'reversed')


def _check_languages(name: str, source: str, target: str, languages) -> None:
  if source not in languages or target not in languages or source == target:
    raise errors.UserInputError(
        f'{name!r} translates between the languages {sorted(languages)}: set '
        f'input.source_language and input.target_language to two different ones (they are '
        f'{source!r} and {target!r})')


def sentence_pairs(name: str, split: str, source_language: str, target_language: str, *,
                   data_dir: str | None = None,
                   download: bool = False) -> tuple[list[str], list[str]]:
  """(sources, targets): the texts of the pairs of `split`, in a fixed order."""
  if name == 'ding_de_en':
    text_corpora.check_split(split)
    _check_languages(name, source_language, target_language, DING_LANGUAGES)
    source, target = (DING_LANGUAGES.index(x) for x in (source_language, target_language))
    pairs = [p for i, p in enumerate(text_corpora.ding_pairs())
             if text_corpora.split_of(i) == split]
    return [p[source] for p in pairs], [p[target] for p in pairs]
  if name == 'ding_en_reversed':
    _check_languages(name, source_language, target_language, REVERSED_LANGUAGES)
    english = sentence_pairs('ding_de_en', split, 'de', 'en')[1]
    texts = {'en': english, 'reversed': [' '.join(s.split()[::-1]) for s in english]}
    return texts[source_language], texts[target_language]
  builder, examples = text_corpora.tfds_records(name, split, data_dir, download)
  _check_languages(name, source_language, target_language, list(builder.info.features.keys()))
  sources, targets = [], []
  for example in examples:
    sources.append(example[source_language].decode('utf-8', errors='replace'))
    targets.append(example[target_language].decode('utf-8', errors='replace'))
  return sources, targets
