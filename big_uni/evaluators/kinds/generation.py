"""Text the model writes, scored: the task's `generate` (greedy, or beam search with a length
penalty) over one split, decoded with the input's tokenizer, against each row's reference.

  config.evals.translations = dict(kind='generation', beam_size=4, alpha=0.6)

Metrics '<name>/bleu' (sacrebleu's corpus BLEU, its default 13a tokenization, 0-100),
'<name>/exact_match' (the fraction of rows written exactly as their reference) and those the
task adds (Task.generation_metrics, e.g. captioning's class-word accuracy). The first rows'
texts are printed, so a run's log shows what the numbers mean.
"""
import functools

import jax
import numpy as np
import sacrebleu

from big_uni import decoding, sharding
from big_uni.evaluators import registry
import input_pipeline
from input_pipeline import tokenizers

_SHOWN = 3  # Rows printed per evaluation.


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
  """Corpus BLEU (0-100) of one reference per hypothesis, as sacrebleu scores it."""
  return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def _replicated(array) -> np.ndarray:
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(array, tiled=True))


@registry.register
class Generation(registry.Evaluator):
  kind = 'generation'

  def __init__(self):
    self._compiled = {}  # (task, settings) -> jitted generate: compiled once per run.

  def input_kind(self, config, task):
    return config.input.kind  # The batches the task trains on: inputs and references.

  def feature_problem(self, task, task_name):
    if not task.generates:
      return f'generation needs a task that writes text; the {task_name} task does not'
    return None

  def _generate(self, task, entry):
    settings = dict(beam_size=entry.beam_size, alpha=entry.alpha, max_len=entry.max_len)
    key = (task, tuple(settings.items()))
    if key not in self._compiled:
      self._compiled[key] = jax.jit(functools.partial(task.generate, **settings))
    return self._compiled[key]

  def __call__(self, features, entry):
    trainer, params, task = features.trainer, features.params, features.trainer.task
    input_config = self.input_config(trainer.config, task, entry)
    tokenizer = tokenizers.build_tokenizer(input_config.tokenizer)
    generate = self._generate(task, entry)
    written, wanted, rows = [], [], []
    with trainer.context():
      for local_batch in trainer.data.batches(entry.split, train=False, input_config=input_config,
                                              batch_size=entry.batch_size):
        batch = sharding.global_batch(local_batch, trainer.mesh)
        valid = _replicated(batch['mask'])
        written.append(_replicated(generate(params, batch))[valid])
        wanted.append(_replicated(task.reference_ids(batch))[valid])
        rows.append({k: _replicated(v)[valid] for k, v in batch.items() if k != 'mask'})
    hypotheses = _texts(tokenizer, np.concatenate(written))
    # The pipeline's own texts where it keeps them: decoded ids would be cut at the maximum
    # length and lose what the tokenizer cannot spell.
    references = (input_pipeline.references(input_config, entry.split)
                  or _texts(tokenizer, np.concatenate(wanted)))
    if len(references) != len(hypotheses):
      raise ValueError(f'{len(references)} references for the {len(hypotheses)} rows of '
                       f'{entry.split!r}')
    for hypothesis, reference in list(zip(hypotheses, references))[:_SHOWN]:
      print(f'  wrote: {hypothesis!r}\n   want: {reference!r}', flush=True)
    batch_rows = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    return {'bleu': corpus_bleu(hypotheses, references),
            'exact_match': float(np.mean([h == r for h, r in zip(hypotheses, references)])),
            **task.generation_metrics(hypotheses, references, batch_rows)}


def _texts(tokenizer, tokens: np.ndarray) -> list[str]:
  """Token rows (the end token, then padding, where they end) -> detokenized texts. A text's
  end token is the tokenizer's sep_id ([SEP], CLIP's end of text), as encode_padded frames it."""
  return [tokenizer.decode(row) for row in decoding.strip(tokens, tokenizer.sep_id,
                                                          tokenizer.pad_id)]
