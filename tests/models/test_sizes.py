"""The one size table: big_vision's names mean big_vision's sizes; one grammar for both towers."""
import pytest

from big_uni.models import sizes

# big_vision/models/vit.py, decode_variant, at google-research/big_vision commit
# 0127fb6b337ee2a27bf4e54dea79cff176527356 (2025-05-19), copied by hand, not imported, so that a
# change on either side shows here: name: (width, depth, mlp_dim, num_heads).
BIG_VISION = {
    'mu': (32, 1, 128, 2),
    'Ti': (192, 12, 768, 3),
    'S': (384, 12, 1536, 6),
    'M': (512, 12, 2048, 8),
    'B': (768, 12, 3072, 12),
    'L': (1024, 24, 4096, 16),
    'So400m': (1152, 27, 4304, 16),
    'H': (1280, 32, 5120, 16),
    'g': (1408, 40, 6144, 16),
    'g-opt': (1536, 40, 6144, 16),
    'G': (1664, 48, 8192, 16),
    'G-opt': (1536, 48, 8192, 16),
    'e': (1792, 56, 15360, 16),
}


@pytest.mark.parametrize('name', sorted(BIG_VISION))
def test_a_big_vision_name_has_big_vision_numbers(name):
  width, depth, mlp_dim, num_heads = BIG_VISION[name]
  assert sizes.SIZES[name] == dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads)


def test_vit_variant_is_size_and_patch():
  assert sizes.decode('B/16', 'ViT') == dict(width=768, depth=12, mlp_dim=3072, num_heads=12,
                                             patch_size=16)
  assert sizes.decode('micro/7', 'ViT') == dict(width=64, depth=4, mlp_dim=256, num_heads=4,
                                                patch_size=7)


def test_text_variant_is_a_size():
  assert sizes.decode('clip_b', 'text') == dict(width=512, depth=12, mlp_dim=2048, num_heads=8)


def test_decoded_sizes_are_copies():
  sizes.decode('base', 'text')['width'] = 1
  assert sizes.SIZES['base']['width'] == 768


@pytest.mark.parametrize('variant,tower', [
    ('XL/16', 'ViT'), ('B', 'ViT'), ('B/x', 'ViT'), ('base/16', 'text'), ('tiny', 'text')])
def test_unknown_or_misshapen_variant_is_a_clear_error(variant, tower):
  with pytest.raises(ValueError, match=f'unknown {tower} variant {variant!r}: expected'):
    sizes.decode(variant, tower)
