"""A reader of R data: the serialized objects of an R lazy-load database (.rdx + .rdb), which
is how R packages such as janeaustenr ship their data (text_corpora reads Austen's novels so)."""
import gzip
import struct
import zlib

import numpy as np

# R serialization (XDR format 'X\n', versions 2 and 3): the subset that data packages hold.
_NILVALUE, _REFSXP = 254, 255
_SYMSXP, _LISTSXP, _CHARSXP = 1, 2, 9
_LGLSXP, _INTSXP, _REALSXP, _STRSXP, _VECSXP = 10, 13, 14, 16, 19
_HAS_ATTRIBUTES, _HAS_TAG = 1 << 9, 1 << 10
_LATIN1 = 1 << 2  # In a CHARSXP's `levels` (flags >> 12).


class _RUnserializer:
  """Reads one R-serialized object: character vectors -> lists of str (None for NA), logical,
  integer and double vectors -> numpy arrays, lists -> lists, pairlists -> [(tag, value)];
  a vector with a 'names' attribute becomes a dict, other attributes are dropped."""

  def __init__(self, data: bytes):
    if data[:2] != b'X\n':
      raise ValueError(f'not R XDR-serialized data (starts with {data[:2]!r})')
    self.data, self.pos, self.symbols = data, 2, []
    version = self._int()
    self.pos += 8  # The writer's and the minimal reader's R versions.
    if version == 3:
      encoding_length = self._int()
      self.pos += encoding_length

  def _int(self) -> int:
    (value,) = struct.unpack_from('>i', self.data, self.pos)
    self.pos += 4
    return value

  def _length(self) -> int:
    length = self._int()
    return length if length != -1 else (self._int() << 32) + self._int()  # Long vectors.

  def _numbers(self, dtype: str) -> np.ndarray:
    length = self._length()
    values = np.frombuffer(self.data, dtype, length, self.pos)
    self.pos += values.nbytes
    return values

  def read(self):
    flags = self._int()
    kind = flags & 0xFF
    if kind == _NILVALUE:
      return None
    if kind == _REFSXP:  # Symbols are written once, then referred to by index.
      return self.symbols[(flags >> 8 or self._int()) - 1]
    if kind == _CHARSXP:
      length = self._int()
      if length == -1:
        return None  # NA_character_
      raw = self.data[self.pos:self.pos + length]
      self.pos += length
      return raw.decode('latin-1' if (flags >> 12) & _LATIN1 else 'utf-8', errors='replace')
    if kind == _SYMSXP:
      self.symbols.append(self.read())
      return self.symbols[-1]
    if kind == _LISTSXP:
      if flags & _HAS_ATTRIBUTES:
        self.read()
      tag = self.read() if flags & _HAS_TAG else None
      value = self.read()
      return [(tag, value)] + (self.read() or [])
    if kind in (_STRSXP, _VECSXP):
      value = [self.read() for _ in range(self._length())]
    elif kind in (_LGLSXP, _INTSXP):
      value = self._numbers('>i4')
    elif kind == _REALSXP:
      value = self._numbers('>f8')
    else:
      raise ValueError(f'R type {kind} (at byte {self.pos - 4}) is not supported')
    if flags & _HAS_ATTRIBUTES:
      names = dict(self.read()).get('names')
      if names is not None:
        value = dict(zip(names, value))
    return value


def read_r_lazyload_db(prefix: str) -> dict:
  """All variables of an R lazy-load database `<prefix>.rdx` + `<prefix>.rdb`, by name.

  The .rdx is a gzipped R object {variables: {name: (offset, length)}, compressed: 1}; each
  .rdb record is the 4-byte big-endian length of the serialized object, then its zlib stream.
  """
  with gzip.open(prefix + '.rdx') as f:
    index = _RUnserializer(f.read()).read()
  if int(index['compressed'][0]) != 1:
    raise ValueError(f'{prefix}.rdb: only zlib-compressed records are supported')
  with open(prefix + '.rdb', 'rb') as f:
    records = f.read()
  return {name: _RUnserializer(zlib.decompress(records[offset + 4:offset + length])).read()
          for name, (offset, length) in index['variables'].items()}
