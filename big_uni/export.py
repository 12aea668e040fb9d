"""Export a trained big_uni model to Hugging Face's layout (model.safetensors + config.json),
which `transformers`' from_pretrained opens: ViT -> ViTForImageClassification (ViTModel without
a head), BERT -> BertForPreTraining / BertForSequenceClassification, CLIP -> CLIPModel, the
causal LM -> GPT2LMHeadModel.

  python -m big_uni.export --workdir=/tmp/vit_mnist5k --out=/tmp/vit_mnist5k_hf [--step=N]

The config is the run's own (workdir/config.json); the params are the latest checkpoint's (or
--step's), in float32. A model HF's class cannot hold (GAP pooling, layer scale, a SigLIP logit
bias) is refused with the reason. The tokenizer is not exported.
"""
import argparse
import json
import os
import sys

import ml_collections

from big_uni import errors, models, paths, pretrained
from big_uni.models import transformer


def export_params(params: dict, config) -> tuple[dict, dict]:
  """(HF state dict, config.json) of a run's numpy params (scanned or not); `config` is the
  run's (its model, and for CLIP its tokenizer, whose end-of-text id HF pools at)."""
  params = transformer.unstack_layers(params)
  name = config.model.name
  export_layout = models.MODELS.get(name).export
  if export_layout is None:
    raise errors.UserInputError(f'model.name={name!r} has no export')
  return export_layout(params, config)


def run_config(workdir: str) -> ml_collections.ConfigDict:
  path = paths.resolve(workdir) / 'config.json'
  if not path.exists():
    raise errors.UserInputError(f'{path} does not exist: give the workdir of a big_uni run')
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def export(workdir: str, out: str, step: int | None = None) -> str:
  """Writes `out`/model.safetensors and config.json; returns the HF architecture written."""
  # pylint: disable=g-import-not-at-top
  from big_uni.convert import files
  # pylint: enable=g-import-not-at-top
  config = run_config(workdir)
  params = pretrained.load_source(
      ml_collections.ConfigDict(dict(kind='checkpoint', path=workdir, step=step)), config.model)
  state, hf_config = export_params(params, config)
  files.write_hf(out, state, hf_config)
  return hf_config['architectures'][0]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--workdir', required=True, help='a big_uni run with checkpoints/')
  parser.add_argument('--out', required=True, help='the folder to write')
  parser.add_argument('--step', type=int, default=None, help='default: the latest checkpoint')
  args = parser.parse_args(argv)
  try:
    architecture = export(args.workdir, args.out, args.step)
  except errors.UserInputError as e:
    sys.exit(f'error: {e}')
  print(f'wrote {architecture} to {os.path.join(args.out, "model.safetensors")} and config.json')


if __name__ == '__main__':
  main()
