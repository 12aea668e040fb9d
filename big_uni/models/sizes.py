"""One size table for every tower of the shared Encoder, ViT's and text's, and its one decoder.

A variant is '<size>' (a text tower: 'base', 'clip_b') or '<size>/<patch>' (a ViT: 'B/16'), as in
big_vision, so a config names a size the same way whichever tower it sizes. A name big_vision also
defines means exactly what it means there (tests/models/test_sizes.py holds big_vision's numbers):
big_uni's own sizes take names big_vision does not use.
"""


def _size(width: int, depth: int, mlp_dim: int, num_heads: int) -> dict:
  return dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads)


SIZES = {
    # big_vision's ViT sizes (models/vit.py decode_variant: Table 2 of Zhai et al. 2021, "Scaling
    # Vision Transformers"; Ti, S, B, L, H are the ViT paper's and DeiT's).
    'mu': _size(32, 1, 128, 2),
    'Ti': _size(192, 12, 768, 3),
    'S': _size(384, 12, 1536, 6),
    'M': _size(512, 12, 2048, 8),
    'B': _size(768, 12, 3072, 12),
    'L': _size(1024, 24, 4096, 16),
    'So400m': _size(1152, 27, 4304, 16),
    'H': _size(1280, 32, 5120, 16),
    'g': _size(1408, 40, 6144, 16),
    'g-opt': _size(1536, 40, 6144, 16),
    'G': _size(1664, 48, 8192, 16),
    'G-opt': _size(1536, 48, 8192, 16),
    'e': _size(1792, 56, 15360, 16),
    # big_uni's ViT for CPU-scale data such as 28x28 digits (larger than big_vision's 'mu').
    'micro': _size(64, 4, 256, 4),
    # Text towers. base/large from the BERT paper; MiniLM-L6-H384 is the architecture of the real
    # weights that install offline (all-MiniLM-L6-v2); clip_b/clip_l are OpenAI CLIP's text towers
    # (of B/16 and L/14); mini and small are for CPU-scale pretraining.
    'mini': _size(256, 4, 1024, 4),
    'small': _size(512, 4, 2048, 8),
    'minilm_l6': _size(384, 6, 1536, 12),
    'base': _size(768, 12, 3072, 12),
    'large': _size(1024, 24, 4096, 16),
    'clip_b': _size(512, 12, 2048, 8),
    'clip_l': _size(768, 12, 3072, 12),
    # The Transformer of Vaswani et al. 2017 (Table 3): `depth` layers in its encoder and as
    # many in its decoder.
    'transformer_base': _size(512, 6, 2048, 8),
    'transformer_big': _size(1024, 6, 4096, 16),
}


def decode(variant: str, tower: str) -> dict:
  """'B/16' -> dict(width=768, depth=12, mlp_dim=3072, num_heads=12, patch_size=16) for a 'ViT'
  tower; 'base' -> the same without patch_size for a 'text' tower. A ViT needs the patch and a
  text tower has none, so either form in the wrong place is an error, as is an unknown size."""
  size, slash, patch = variant.partition('/')
  expected = {'ViT': '"<size>/<patch>", e.g. "B/16"', 'text': '"<size>", e.g. "base"'}[tower]
  if size not in SIZES or bool(slash) != (tower == 'ViT') or (slash and not patch.isdigit()):
    raise ValueError(f'unknown {tower} variant {variant!r}: expected {expected} with size in '
                     f'{list(SIZES)}')
  return dict(SIZES[size], patch_size=int(patch)) if slash else dict(SIZES[size])
