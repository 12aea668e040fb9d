"""Model FLOPs of a train step, counted from the shapes: the numerator of MFU.

The convention of the MFU literature (PaLM, appendix B; MaxText): only matrix multiplications, 2
FLOPs per multiply-add, the backward pass twice the forward, and no recomputation (remat and
GradCache's second forward add hardware FLOPs, not model FLOPs). A tower locked with LiT gets its
forward pass only. `tests/big_uni/test_flops.py` checks the count against XLA's cost analysis of the
unscanned step, which also counts the elementwise work.

Each model family counts its own step beside its code (its `Family.train_flops`, e.g.
models/vit.py) with the helpers here.

Shapes: L tokens, D width, F MLP width, V vocabulary, P masked positions, E joint width.
"""
import dataclasses

import numpy as np

from big_uni.models import family


def encoder_forward(tokens: int, width: int, depth: int, mlp_dim: int) -> float:
  """One sequence through `depth` blocks: q, k, v, out projections (4 [L,D]x[D,D]), scores and
  weighted values (2 [L,L]x[L,D]), the MLP (2 [L,D]x[D,F])."""
  per_block = 8 * tokens * width**2 + 4 * tokens**2 * width + 4 * tokens * width * mlp_dim
  return depth * per_block


def cross_attention_forward(queries: int, keys: int, width: int, depth: int) -> float:
  """`depth` cross-attention branches of `queries` positions to `keys` others: q and out
  projections of the queries, k and v of the keys, then the [Lq, Lk] scores and weighted
  values."""
  return depth * (4 * queries * width**2 + 4 * keys * width**2 + 4 * queries * keys * width)


def text_forward(tower, length: int) -> float:
  """One sequence of `length` tokens through a text.TextEncoder `tower` (embedding lookups are
  gathers, not FLOPs)."""
  return encoder_forward(length, tower.width, tower.depth, tower.block.mlp_dim)


def train_step(model, batch_shapes: dict[str, tuple[int, ...]]) -> float:
  """Model FLOPs of one train step of `model` on a global batch of `batch_shapes` (the task's
  batch: name -> shape, e.g. {'image': (B, H, W, C), 'label': (B,)})."""
  return family.of(model).train_flops(model, batch_shapes)


def tokens_per_example(model, batch_shapes: dict[str, tuple[int, ...]]) -> int:
  """Sequence positions one example sends through the encoder(s): patches (+[CLS]) and text."""
  return family.of(model).tokens_per_example(model, batch_shapes)


@dataclasses.dataclass(frozen=True)
class StepCost:
  """One train step's model FLOPs and sequence positions (all devices together)."""
  flops: float
  tokens: int


def step_cost(task, global_batch: int) -> StepCost:
  """The cost of a train step of `task` (its model and batch shapes) on `global_batch`."""
  example = task.synthetic_batch(np.random.default_rng(0), 1)
  shapes = {name: (global_batch, *x.shape[1:]) for name, x in example.items()}
  return StepCost(task.train_flops(shapes),
                  global_batch * tokens_per_example(task.model, shapes))


# Peak dense bf16 TFLOP/s per chip (vendors' data sheets; H100/H200 SXM). The first name found
# in a device's `device_kind` wins, so the more specific names come first.
PEAK_TFLOPS = {'H100 PCIe': 756.0, 'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'TPU v4': 275.0,
               'TPU v5 lite': 197.0, 'TPU v5p': 459.0, 'TPU v5': 459.0, 'TPU v6 lite': 918.0}


def peak_tflops(device) -> float | None:
  """The peak of `device` (a jax.Device) from the table; None for CPUs and unknown chips."""
  return next((peak for name, peak in PEAK_TFLOPS.items() if name in device.device_kind), None)
