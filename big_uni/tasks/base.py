"""The interface between an objective and the one trainer.

Two kinds of objective, which gradient accumulation treats differently (big_uni/grad_accum.py):
- `RowSumTask`: the loss is a sum over rows (or masked tokens) divided by a count that depends on
  the batch alone (classification, MLM, NSP). Micro-batches add their sums; the counts are those
  of the whole batch.
- `EmbeddingTask`: the loss couples the rows of a batch (contrastive: every image against every
  caption). The task embeds rows independently, then scores the whole batch's embeddings.
"""
import abc
import importlib

import jax.numpy as jnp
import numpy as np

from big_uni import errors, flops
from big_uni.tasks import batch as batch_lib
from input_pipeline.registry import Registry

# config.task -> its Task class; each task module registers its class with @TASKS.register(name)
# (importing big_uni.tasks imports them all).
TASKS = Registry('task', load=lambda: importlib.import_module('big_uni.tasks'))


def check_vocab_size(tokenizer_config, vocab_size: int) -> None:
  """The tokenizer an input section names must have the model's vocabulary size."""
  from input_pipeline import tokenizers  # pylint: disable=g-import-not-at-top
  tokenizer = tokenizers.build_tokenizer(tokenizer_config)
  source = tokenizer_config.path or f'trained on {tokenizer_config.train_corpus}'
  if tokenizer.vocab_size != vocab_size:
    raise errors.UserInputError(
        f'the tokenizer ({tokenizer_config.kind}, {source}) has {tokenizer.vocab_size} tokens '
        f'but the model has vocab_size={vocab_size}: set it to {tokenizer.vocab_size} or use '
        'the matching tokenizer')


class Task(abc.ABC):
  """A model, its loss and metrics, and the batch it reads.

  Batches are dicts of arrays with a leading batch axis; evaluation batches carry 'mask'
  (bool [B], False on padding rows) so every example is counted exactly once. `batch_fields`
  declares the rest (batch.py): it picks the input pipeline, draws synthetic batches and is
  checked against the data's first batch; `batch_spec` is it with the config's sizes.

  `feature_kinds` declares the representations the evaluators (evaluators/kinds/) may read, so
  that preflight can refuse an evaluation the task cannot feed before anything runs: 'image'
  (`image_features`) and 'text' (`text_features`). kNN and the linear probe read the first.
  A task whose model writes text sets `generates` (`generate`, `reference_ids`): the generation
  evaluation decodes its eval split and scores it with BLEU. A task whose model chooses actions
  sets `acts` (`action_logits`, `return_conditioned`): the rollout evaluation plays it in its
  environment. A task that reads token ids sets `vocab_size`, the model's vocabulary: preflight
  refuses a tokenizer of another size (its ids would index the wrong embedding rows).
  """

  feature_kinds: tuple[str, ...] = ()
  generates = False
  acts = False
  return_conditioned = False  # Whether an acting model reads the return it should reach.
  vocab_size: int | None = None
  batch_fields: dict[str, batch_lib.Field]

  def __init__(self, config):
    """`config` is complete (build_task completes it)."""
    self.batch_spec = batch_lib.resolve(self.batch_fields, config)

  @abc.abstractmethod
  def init_params(self, rng):
    """Boxed (logically partitioned) params; the trainer calls it under jax.eval_shape."""

  def synthetic_batch(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
    """Random inputs of the real shapes and dtypes (benchmarks, machines without TensorFlow)."""
    return batch_lib.synthetic(self.batch_spec, rng, batch_size)

  @abc.abstractmethod
  def loss_and_metrics(self, params, batch, rng):
    """-> (scalar loss, {name: scalar}) of one whole training batch; `rng` drives dropout."""

  @abc.abstractmethod
  def eval_sums(self, params, batch):
    """-> {name: (sum, count)} for one batch; the trainer reports sum(sums) / sum(counts)."""

  def summarize_eval(self, means: dict[str, float]) -> dict[str, float]:
    """Metrics derived from the means (e.g. perplexity from the loss)."""
    return means

  def train_flops(self, batch_shapes: dict[str, tuple[int, ...]]) -> float:
    """Model FLOPs of one train step on a global batch of `batch_shapes` (flops.py's convention):
    the model's own count, plus what a task runs beside it (e.g. a frozen teacher's forward)."""
    return flops.train_step(self.model, batch_shapes)

  def problems(self) -> list[str]:
    """What the task reads besides the data that is missing or does not fit (e.g. a teacher
    run): preflight reports them before the first step."""
    return []

  def loaded_parts(self) -> dict:
    """Params subtrees the task adds beside its model's, which a `config.init` entry targeting
    each must load in full (e.g. DeiT's frozen teacher): {top-level name: its model config}."""
    return {}

  def constrain_params(self, params):
    """Params after an optimizer update, projected onto their allowed range (e.g. CLIP's clamped
    logit scale)."""
    return params

  def generate(self, params, batch, *, beam_size: int, alpha: float, max_len: int):
    """Token ids int32 [B, T] the model writes for each row of `batch` (without its start token;
    EOS then padding where it stops): greedy for beam_size 1, else beam search (decoding.py)
    with length penalty `alpha`; T = max_len, or the task's own target length for 0."""
    raise NotImplementedError(f'{type(self).__name__} does not generate')

  def reference_ids(self, batch):
    """int32 [B, T'] the text each row should generate (as `generate` writes it)."""
    raise NotImplementedError(f'{type(self).__name__} does not generate')

  def generation_metrics(self, hypotheses: list[str], references: list[str],
                         batch_rows: dict) -> dict[str, float]:
    """Metrics of the task's own besides BLEU and exact match, from the decoded texts and the
    eval rows (host arrays of the whole split, padding removed)."""
    del hypotheses, references, batch_rows
    return {}

  def action_logits(self, params, returns_to_go, states, actions, timesteps):
    """Windows of K steps of B episodes (returns-to-go float32 [B, K], states float32 [B, K, S],
    actions and timesteps int32 [B, K]) -> logits float32 [B, K, A] of the action at each step,
    from the steps up to it (its own action unseen); only where the task `acts`."""
    raise NotImplementedError(f'{type(self).__name__} does not act')

  def image_features(self, params, images):
    """Images float32 [B, H, W, C] -> features [B, D]; only where 'image' is a feature kind."""
    raise NotImplementedError(f'{type(self).__name__} declares no image features')

  def text_features(self, params, text_ids, text_mask):
    """One text per row, token ids int32 [B, L] and mask bool [B, L] -> features [B, D]; only
    where 'text' is a feature kind."""
    raise NotImplementedError(f'{type(self).__name__} declares no text features')


class RowSumTask(Task):
  """The loss is the sum over `loss_terms` of (sum over rows) / (weight of the batch)."""

  loss_terms: tuple[str, ...] = ('loss',)

  @abc.abstractmethod
  def train_sums(self, params, batch, rng) -> dict[str, tuple]:
    """{name: (sum, weight)} over the rows of a training batch or micro-batch, for the loss terms
    and the metrics; each weight is `loss_weights`' for the same rows."""

  def loss_weights(self, batch) -> dict[str, jnp.ndarray]:
    """{loss term: weight} of `batch`, from its inputs alone (never from params): by default
    its number of rows."""
    rows = jnp.float32(next(iter(batch.values())).shape[0])
    return {name: rows for name in self.loss_terms}

  def combine(self, sums: dict[str, tuple], weights: dict[str, jnp.ndarray]):
    """-> (loss, metrics): the loss terms' sums divided by `weights` (those of the whole batch,
    so that micro-batches add up to its loss), each metric by its own summed weight."""
    loss = sum(sums[name][0] / jnp.maximum(weights[name], 1.0) for name in self.loss_terms)
    return loss, {name: total / jnp.maximum(weight, 1.0) for name, (total, weight) in sums.items()}

  def loss_and_metrics(self, params, batch, rng):
    return self.combine(self.train_sums(params, batch, rng), self.loss_weights(batch))


class EmbeddingTask(Task):
  """The loss scores the embeddings of a whole batch together."""

  @abc.abstractmethod
  def embed(self, params, batch, rng):
    """A pytree of per-row embeddings [B, ...] of a batch or micro-batch; row i depends only on
    row i of `batch` (and `rng`, which drives dropout)."""

  @abc.abstractmethod
  def batch_loss(self, params, embeddings):
    """-> (scalar loss, {name: scalar}) of the whole batch's `embeddings`."""

  def loss_and_metrics(self, params, batch, rng):
    return self.batch_loss(params, self.embed(params, batch, rng))
