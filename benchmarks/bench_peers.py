"""The PyTorch implementations a user would otherwise train, at the shapes of a big_uni model.

`python -m benchmarks.bench --peer` times one of these next to big_uni's step: HF `transformers`
ViTForImageClassification, BertForPreTraining and CLIPModel, built from the sizes of the Flax
module that the config builds (so a `--config.model.width=...` override changes both), trained
the way their users train them: AdamW with the config's lr, weight decay and gradient clipping,
eager float32 on CPU; bf16 autocast, SDPA attention and `torch.compile` on GPU.

torch and transformers are imported here only: they are a bench/test extra, never a training
dependency.
"""
import dataclasses
import statistics
import time
from typing import Callable

import numpy as np

from big_uni import config_schema

# big_uni activation -> HF `hidden_act` (HF's 'gelu' is exact erf GELU, as big_uni's).
_HF_ACTIVATIONS = {'gelu': 'gelu', 'gelu_tanh': 'gelu_pytorch_tanh', 'quick_gelu': 'quick_gelu'}


@dataclasses.dataclass
class PeerTiming:
  name: str  # e.g. 'transformers.ViTForImageClassification, sdpa attention (eager, float32)'
  compile_time_s: float  # The first step (with torch.compile's compilation on GPU).
  step_time_s: float  # Median of the timed steps.


def _encoder_fields(width, depth, num_heads, mlp_dim, activation, layer_norm_eps) -> dict:
  return dict(hidden_size=width, num_hidden_layers=depth, num_attention_heads=num_heads,
              intermediate_size=mlp_dim, hidden_act=_HF_ACTIVATIONS[activation],
              layer_norm_eps=layer_norm_eps)


def _vit_fields(vit) -> dict:
  return _encoder_fields(vit.width, vit.depth, vit.num_heads, vit.mlp_dim, vit.activation,
                         vit.layer_norm_eps)


def _text_fields(text) -> dict:
  block = text.block
  return _encoder_fields(text.width, text.depth, block.num_heads, block.mlp_dim,
                         block.activation, block.layer_norm_eps)


def _images(batch, torch):
  """[B, H, W, C] numpy -> [B, C, H, W] torch."""
  return torch.from_numpy(batch['image']).permute(0, 3, 1, 2).contiguous()


def _vit_net(model, batch, transformers):
  return transformers.ViTForImageClassification(transformers.ViTConfig(
      **_vit_fields(model), image_size=batch['image'].shape[1], patch_size=model.patch_size,
      num_channels=batch['image'].shape[-1], num_labels=model.num_classes,
      hidden_dropout_prob=model.dropout,
      attention_probs_dropout_prob=model.attention_dropout))


def _vit_inputs(batch, torch):
  return {'pixel_values': _images(batch, torch), 'labels': torch.from_numpy(batch['label']).long()}


def _bert_net(model, batch, transformers):
  del batch
  text = model.text
  return transformers.BertForPreTraining(transformers.BertConfig(
      **_text_fields(text), vocab_size=text.vocab_size, max_position_embeddings=text.max_len,
      type_vocab_size=text.type_vocab_size, hidden_dropout_prob=text.block.dropout,
      attention_probs_dropout_prob=text.block.attention_dropout))


def _bert_inputs(batch, torch):
  # HF's MLM labels: the target id at each masked position, -100 elsewhere (its head still
  # computes logits at every position, as its users run it).
  ids = batch['input_ids']
  labels = np.full(ids.shape, -100, np.int64)
  np.put_along_axis(labels, batch['masked_positions'], batch['masked_ids'], axis=1)
  return {'input_ids': torch.from_numpy(ids).long(),
          'token_type_ids': torch.from_numpy(batch['segment_ids']).long(),
          'attention_mask': torch.from_numpy(batch['input_mask']).long(),
          'labels': torch.from_numpy(labels),
          'next_sentence_label': torch.from_numpy(batch['next_sentence_label']).long()}


def _clip_net(model, batch, transformers):
  image, text = model.image, model.text
  return transformers.CLIPModel(transformers.CLIPConfig(
      projection_dim=model.embed_dim,
      text_config=dict(**_text_fields(text), vocab_size=text.vocab_size,
                       max_position_embeddings=text.max_len),
      vision_config=dict(**_vit_fields(image), image_size=batch['image'].shape[1],
                         patch_size=image.patch_size, num_channels=batch['image'].shape[-1])))


def _clip_inputs(batch, torch):
  return {'pixel_values': _images(batch, torch),
          'input_ids': torch.from_numpy(batch['text_ids']).long(),
          'attention_mask': torch.from_numpy(batch['text_mask']).long(),
          'return_loss': True}


# model.name -> (HF model of the Flax module's sizes, big_uni batch -> its inputs).
PEERS: dict[str, tuple[Callable, Callable]] = {
    'vit': (_vit_net, _vit_inputs),
    'bert_pretraining': (_bert_net, _bert_inputs),
    'clip': (_clip_net, _clip_inputs),
}


def time_peer(config, model, batches: list[dict], device: str | None = None) -> PeerTiming:
  """Times the peer of `model` (a big_uni Flax module built from `config`) on `batches` (numpy,
  big_uni's synthetic batches): the first one compiles/warms up, the rest are timed."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  if config.model.name not in PEERS:
    raise ValueError(f'no PyTorch peer for model.name={config.model.name!r}; '
                     f'peers exist for {sorted(PEERS)}')
  device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
  on_gpu = device.startswith('cuda')
  torch.manual_seed(config.seed)
  build_net, to_inputs = PEERS[config.model.name]
  net = build_net(model, batches[0], transformers).to(device).train()
  # HF picks SDPA attention where torch has it (the name below says which it ran).
  name = f'{type(net).__name__}, {net.config._attn_implementation} attention'  # pylint: disable=protected-access
  # fp32 weights with bf16 autocast, the compiled model and the fused AdamW: how GPU users train.
  forward = torch.compile(net) if on_gpu else net
  optimizer = torch.optim.AdamW(net.parameters(), lr=config.optimizer.lr,
                                betas=(config.optimizer.b1, config.optimizer.b2),
                                eps=config.optimizer.eps,
                                weight_decay=config.optimizer.weight_decay, fused=on_gpu)
  optimizer_config = config_schema.completed(config.optimizer, config_schema.OPTIMIZER)
  clip_norm = optimizer_config.grad_clip_norm

  def step(inputs):
    with torch.autocast(device_type='cuda', dtype=torch.bfloat16, enabled=on_gpu):
      loss = forward(**inputs).loss
    loss.backward()
    if clip_norm:
      torch.nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss

  prepared = [{k: v.to(device) if isinstance(v, torch.Tensor) else v
               for k, v in to_inputs(batch, torch).items()} for batch in batches]
  times = []
  for inputs in prepared:
    start = time.perf_counter()
    loss = step(inputs)
    loss.item()  # Waits for the device.
    times.append(time.perf_counter() - start)
  mode = 'torch.compile, bf16 autocast' if on_gpu else 'eager, float32'
  del net, forward, optimizer, prepared
  if on_gpu:
    torch.cuda.empty_cache()
  return PeerTiming(name=f'transformers.{name} ({mode})',
                    compile_time_s=times[0], step_time_s=statistics.median(times[1:]))
