"""What a pretrained BERT predicts: fill-mask, next-sentence probability, attention maps.

`model` is a models.bert.BertPretraining (task mlm_nsp), `params` its params, `tokenizer` an
input_pipeline.tokenizers.base.Tokenizer with a [MASK] token. Inputs are laid out as pretraining
lays them out (input_pipeline.bert_inputs.assemble): [CLS] A [SEP] B [SEP], segment 0 on
[CLS] A [SEP] and 1 on B [SEP]; a single sentence is [CLS] A [SEP], all segment 0, as
Tokenizer.encode_padded lays out single texts. Shapes: T tokens, V vocabulary, K top_k.
"""
import dataclasses
import functools

import jax
import numpy as np

from big_uni.models import transformer
from input_pipeline import bert_inputs, sampling

# sentencepiece writes a space before a user-defined symbol such as [MASK] as a piece of its own;
# in pretraining [MASK] replaced a whole piece, space included ('▁truth'), so that piece goes.
_SPACE_PIECE = '\u2581'


def encode(tokenizer, text: str) -> list[int]:
  """Ids of `text` without special tokens; '[MASK]' in it becomes the mask id (after a space it
  stands for a word's first piece, which carries the space)."""
  ids = tokenizer.encode(text)
  return [i for n, i in enumerate(ids)
          if not (tokenizer.pieces[i] == _SPACE_PIECE and n + 1 < len(ids)
                  and ids[n + 1] == tokenizer.mask_id)]


def inputs(tokenizer, a_ids, b_ids=None) -> dict:
  """input_ids, segment_ids int32 [1, T] and input_mask bool [1, T] of [CLS] A [SEP] B [SEP]
  (the pretraining pipeline's assemble; it reads only the tokenizer's pad, cls and sep ids), or
  of [CLS] A [SEP] without B. No padding: T is the number of tokens."""
  if b_ids is None:
    ids = np.array([[tokenizer.cls_id, *a_ids, tokenizer.sep_id]], np.int32)
    return {'input_ids': ids, 'segment_ids': np.zeros_like(ids),
            'input_mask': np.ones(ids.shape, bool)}
  tokens = np.array([*a_ids, *b_ids], np.int32)
  pair = np.array([[0, len(a_ids), len(a_ids), len(tokens), 0]])
  batch = bert_inputs.assemble(tokens, pair, len(tokens) + 3, tokenizer)
  return {k: batch[k] for k in ('input_ids', 'segment_ids', 'input_mask')}


def _padded_size(n: int, most: int | None = None) -> int:
  """The power of two (8 at least) from n up, at most `most` (but n)."""
  size = max(8, 1 << (n - 1).bit_length())
  return size if most is None else max(n, min(size, most))


@functools.partial(jax.jit, static_argnames=('model', 'mutable'))
def _forward(model, params, input_ids, segment_ids, input_mask, positions, mutable):
  return model.apply({'params': params}, input_ids, segment_ids, input_mask, positions,
                     mutable=list(mutable))


def _apply(model, params, batch, positions, mutable=()):
  """(MLM logits [B, P, V] at `positions` int [B, P], NSP logits [B, 2], the `mutable`
  collections, whose arrays keep the padding: [..., B', ..., T', T'] with B' >= B, T' >= T).

  Rows and tokens are padded up to powers of two (padding tokens are masked out, padding rows
  repeat the last one) so that a few compiled functions serve every input."""
  rows, length = batch['input_ids'].shape
  pad_tokens = ((0, 0), (0, _padded_size(length, model.text.max_len) - length))

  def padded(x, value):
    return sampling.pad_rows(np.pad(x, pad_tokens, constant_values=value), _padded_size(rows),
                             mode='edge')

  (mlm, nsp), state = _forward(
      model, params, padded(batch['input_ids'], 0),
      padded(batch['segment_ids'], 0), padded(batch['input_mask'], False),
      sampling.pad_rows(np.asarray(positions, np.int32), _padded_size(rows), mode='edge'),
      tuple(mutable))
  return np.asarray(mlm)[:rows], np.asarray(nsp)[:rows], state


def mlm_probabilities(model, params, batch, positions) -> np.ndarray:
  """Softmax over the vocabulary at `positions` int [B, P] of `batch`: float [B, P, V]."""
  return np.asarray(jax.nn.softmax(_apply(model, params, batch, positions)[0], axis=-1))


@dataclasses.dataclass
class MaskPrediction:
  position: int  # Index of the [MASK] in the input ([CLS] is 0).
  pieces: list[str]  # The top-k tokens, most probable first.
  ids: np.ndarray  # int [K]
  probabilities: np.ndarray  # float [K], descending.


def fill_mask(model, params, tokenizer, text: str, top_k: int = 10,
              text_b: str | None = None) -> list[MaskPrediction]:
  """The `top_k` most probable tokens at each [MASK] of `text` (then of `text_b`, the second
  segment if given), in order."""
  a = encode(tokenizer, text)
  batch = inputs(tokenizer, a, None if text_b is None else encode(tokenizer, text_b))
  positions = np.flatnonzero(batch['input_ids'][0] == tokenizer.mask_id)
  if not len(positions):
    raise ValueError(f'no [MASK] in {text!r}')
  probabilities = mlm_probabilities(model, params, batch, positions[None])[0]  # [M, V]
  top = np.argsort(-probabilities, axis=-1, kind='stable')[:, :top_k]
  return [MaskPrediction(int(p), [tokenizer.pieces[i] for i in ids], ids, probs[ids])
          for p, ids, probs in zip(positions, top, probabilities)]


def token_ranks(model, params, tokenizer, sentence: str) -> dict:
  """Each token of `sentence` masked in turn (one row per token, the others left as they are):
  pieces (list of T strings), rank int [T] (0: the true token is the most probable) and
  probability float [T] of the true token. A single-sentence input, [CLS] A [SEP]."""
  ids = encode(tokenizer, sentence)
  batch = inputs(tokenizer, ids)
  rows = len(ids)
  positions = np.arange(1, rows + 1)[:, None]  # [T, 1]: row t masks token t (after [CLS]).
  masked = {k: np.repeat(v, rows, axis=0) for k, v in batch.items()}
  masked['input_ids'][np.arange(rows), positions[:, 0]] = tokenizer.mask_id
  probabilities = mlm_probabilities(model, params, masked, positions)[:, 0]  # [T, V]
  true = probabilities[np.arange(rows), ids]
  return {'pieces': [tokenizer.pieces[i] for i in ids],
          'rank': (probabilities > true[:, None]).sum(-1),
          'probability': true}


def nsp_probability(model, params, tokenizer, sentence_a: str, sentence_b: str) -> float:
  """P(IsNext): the NSP head's probability that `sentence_b` follows `sentence_a` (label 0 in
  pretraining; 1 is a random B)."""
  batch = inputs(tokenizer, encode(tokenizer, sentence_a), encode(tokenizer, sentence_b))
  nsp = _apply(model, params, batch, np.zeros((1, 1)))[1]
  return float(jax.nn.softmax(nsp[0])[0])


def attention_maps(model, params, tokenizer, sentence: str,
                   sentence_b: str | None = None) -> tuple[np.ndarray, list[str]]:
  """(attention weights [layers, heads, T, T] (query, key), the T token strings) of `sentence`
  ([CLS] A [SEP]), or of the pair with `sentence_b`. The attention layers sow their weights
  when `intermediates` is mutable; scanned layers sow them stacked."""
  batch = inputs(tokenizer, encode(tokenizer, sentence),
                 None if sentence_b is None else encode(tokenizer, sentence_b))
  state = _apply(model, params, batch, np.zeros((1, 1)), mutable=['intermediates'])[2]
  # Unscanned blocks stacked as nn.scan sows them: [layers, B, N, T, T].
  layers = transformer.stack_layers(state['intermediates']['text']['encoder'])['layers']
  weights = np.asarray(layers['attention']['attention_weights'][0])[:, 0]
  length = batch['input_ids'].shape[1]  # Without the padding _apply added.
  return weights[..., :length, :length], [tokenizer.pieces[i] for i in batch['input_ids'][0]]
