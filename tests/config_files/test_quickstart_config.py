"""configs/vit_mnist5k.py: 7-pixel patches by default, the earlier 4-pixel quickstart as :patch4."""
import pytest

from big_uni import train
from configs import vit_mnist5k


@pytest.mark.parametrize('variant, tokens', [('', 16), ('patch4', 49)])
def test_variants_differ_in_the_patch_grid_not_in_size(variant, tokens):
  trainer = train.Trainer(vit_mnist5k.get_config(variant), total_steps=1)
  params = trainer.abstract_state.params
  assert params['pos_embedding'].shape[-2] == tokens  # 28 px: 4 x 4 or 7 x 7 patches
  assert train.count_params(params) == 204_938  # the same micro ViT either way


def test_unknown_variant_names_the_ones_there_are():
  with pytest.raises(ValueError, match='known: patch4, smoke'):
    vit_mnist5k.get_config('patch7')
