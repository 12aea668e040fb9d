"""Model FLOPs of a train step, counted from the shapes: the numerator of MFU.

The convention of the MFU literature (PaLM, appendix B; MaxText): only matrix multiplications, 2
FLOPs per multiply-add, the backward pass twice the forward, and no recomputation (remat and
GradCache's second forward add hardware FLOPs, not model FLOPs). A tower locked with LiT gets its
forward pass only. `tests/test_flops.py` checks the count against XLA's cost analysis of the
unscanned step, which also counts the elementwise work.

Shapes: L tokens, D width, F MLP width, V vocabulary, P masked positions, E joint width.
"""
import dataclasses

import numpy as np

from big_uni.models import bert, clip, text, vit


def encoder_forward(tokens: int, width: int, depth: int, mlp_dim: int) -> float:
  """One sequence through `depth` blocks: q, k, v, out projections (4 [L,D]x[D,D]), scores and
  weighted values (2 [L,L]x[L,D]), the MLP (2 [L,D]x[D,F])."""
  per_block = 8 * tokens * width**2 + 4 * tokens**2 * width + 4 * tokens * width * mlp_dim
  return depth * per_block


def _vit_patches(model: vit.ViT, image_shape) -> int:
  """Patches of one [H, W, ...] image."""
  return (image_shape[0] // model.patch_size) * (image_shape[1] // model.patch_size)


def vit_forward(model: vit.ViT, image_shape) -> tuple[float, float]:
  """(FLOPs through the patch embedding, the rest) for one image [H, W, C]; the embedding is
  apart because its input needs no gradient."""
  patches = _vit_patches(model, image_shape)
  patch_embed = 2 * patches * model.patch_size**2 * image_shape[2] * model.width
  tokens = patches + (model.pool == 'cls')
  rest = encoder_forward(tokens, model.width, model.depth, model.mlp_dim)
  return patch_embed, rest + 2 * model.width * model.num_classes


def text_forward(tower: text.TextEncoder, length: int) -> float:
  """One sequence of `length` tokens (embedding lookups are gathers, not FLOPs)."""
  return encoder_forward(length, tower.width, tower.depth, tower.block.mlp_dim)


def train_step(model, batch_shapes: dict[str, tuple[int, ...]]) -> float:
  """Model FLOPs of one train step of `model` on a global batch of `batch_shapes` (the task's
  batch: name -> shape, e.g. {'image': (B, H, W, C), 'label': (B,)})."""
  if isinstance(model, vit.ViT):
    batch, *image_shape = batch_shapes['image']
    patch_embed, rest = vit_forward(model, image_shape)
    return batch * (2 * patch_embed + 3 * rest)
  if isinstance(model, bert.BertPretraining):
    (batch, length), predictions = batch_shapes['input_ids'], batch_shapes['masked_positions'][1]
    width = model.text.width
    heads = predictions * (2 * width**2 + 2 * width * model.text.vocab_size) + 2 * width**2
    return 3 * batch * (text_forward(model.text, length) + heads + 2 * width * 2)
  if isinstance(model, bert.BertClassifier):
    batch, length = batch_shapes['input_ids']
    width = model.text.width
    head = 2 * width**2 + 2 * width * model.num_classes
    return 3 * batch * (text_forward(model.text, length) + head)
  if isinstance(model, clip.CLIP):
    batch, *image_shape = batch_shapes['image']
    patch_embed, image_tower = vit_forward(model.image, image_shape)
    text_tower = text_forward(model.text, batch_shapes['text_ids'][1])
    projections = 2 * (model.image.width + model.text.width) * model.embed_dim
    # Locked towers: forward only (their projections still train).
    image_step = (image_tower + patch_embed if model.lock_image
                  else 3 * image_tower + 2 * patch_embed)
    text_step = text_tower if model.lock_text else 3 * text_tower
    towers = image_step + text_step + 3 * projections
    # The [B, B] similarity of every image with every text, forward and both gradients.
    return batch * towers + 3 * 2 * batch**2 * model.embed_dim
  raise ValueError(f'no FLOP count for {type(model).__name__}')


def tokens_per_example(model, batch_shapes: dict[str, tuple[int, ...]]) -> int:
  """Sequence positions one example sends through the encoder(s): patches (+[CLS]) and text."""
  if isinstance(model, vit.ViT):
    return _vit_patches(model, batch_shapes['image'][1:]) + (model.pool == 'cls')
  if isinstance(model, clip.CLIP):
    return tokens_per_example(model.image, batch_shapes) + batch_shapes['text_ids'][1]
  return batch_shapes['input_ids'][1]


@dataclasses.dataclass(frozen=True)
class StepCost:
  """One train step's model FLOPs and sequence positions (all devices together)."""
  flops: float
  tokens: int


def step_cost(task, global_batch: int) -> StepCost:
  """The cost of a train step of `task` (its model and batch shapes) on `global_batch`."""
  example = task.synthetic_batch(np.random.default_rng(0), 1)
  shapes = {name: (global_batch, *x.shape[1:]) for name, x in example.items()}
  return StepCost(train_step(task.model, shapes),
                  global_batch * tokens_per_example(task.model, shapes))


# Peak dense bf16 TFLOP/s per chip (vendors' data sheets; H100/H200 SXM). The first name found
# in a device's `device_kind` wins, so the more specific names come first.
PEAK_TFLOPS = {'H100 PCIe': 756.0, 'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'TPU v4': 275.0,
               'TPU v5 lite': 197.0, 'TPU v5p': 459.0, 'TPU v5': 459.0, 'TPU v6 lite': 918.0}


def peak_tflops(device) -> float | None:
  """The peak of `device` (a jax.Device) from the table; None for CPUs and unknown chips."""
  return next((peak for name, peak in PEAK_TFLOPS.items() if name in device.device_kind), None)
