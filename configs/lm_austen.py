"""A GPT-style causal language model on the six Jane Austen novels, on a CPU in a few minutes.

Corpus: Debian `r-cran-janeaustenr` (chapters are documents; every 20th chapter, offset 9, is held
out for validation, offset 19 for test), cut into windows of 128 consecutive tokens
(input_pipeline/token_windows.py). Tokenizer: the 8k sentencepiece unigram vocabulary
bert_austen.py trains on the training chapters (about a second, cached). Model: GPT-2's layout
(models/causal_lm.py), 2 layers, 128 wide, no dropout.

COMMAND:
  python -m big_uni.main --config=configs/lm_austen.py --workdir=/tmp/lm_austen
Expected (measured 2026-12-07 on this 2-core CPU, 7m32s wall for the whole command: 400 steps of
32 x 128 tokens, ~0.9 steps/s): held-out (validation) perplexity 149.2, loss 5.005, next-token
accuracy 16.2%; 1,437,184 params, 1,024,000 of them the tied token embedding. Perplexity is per
sentencepiece token, over every token of a chapter but its first (token_windows.py).

Baselines on the same 38,373 validation targets (the LM's own evaluation counts as many), counted
on the 808,489 training targets: add-one unigram perplexity 564.2, interpolated Kneser-Ney bigram
120.9: the bigram beats this 400-step LM. Its discount, 0.673, is Ney's estimate from the
training counts, nothing tuned (fitted on 9 in 10 training chapters, it scores 129.45 on the
tenth, where the best of a sweep, 0.7, scores 129.42).
  python -m benchmarks.text_baseline --lm_config=configs/lm_austen.py   (2 s)

Sampling from the trained run (big_uni/sample.py; 13 s wall, under load):
  python -m big_uni.main --config=configs/lm_austen.py --workdir=/tmp/lm_austen --mode=sample \
      --prompt="It is a truth universally acknowledged" --num_tokens=60 --temperature=0.8 \
      --top_k=40 --top_p=0.95 --num_samples=3 --seed=0
The first of its three samples, a sample at perplexity 149.2 (Austen's punctuation and short
phrases, no sense yet):
  It is a truth universally acknowledged to be a much to you do all her, and then, for the same
  moment; and he had always in his mother of all the next; and, though it was not like you not be
  a time of him with this moment, and, and his acquaintance; but it, and the way

Variants (`--config=configs/lm_austen.py:<arg>`): the flag smoke.
"""
import ml_collections

from configs import common, common_bert


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, smoke=False)
  config = common.core(task='causal_lm', total_steps=400, log_every_steps=50,
                       checkpoint_every_steps=400)
  config.evals.task.every_steps = 200
  config.model = ml_collections.ConfigDict(dict(
      name='causal_lm', variant='mini', width=128, depth=2, mlp_dim=512, num_heads=2,
      vocab_size=8000, max_len=128, dropout=0.0))
  config.input = ml_collections.ConfigDict(dict(
      dataset='austen', train_split='train', eval_split='validation', max_seq_len=128,
      batch_size=32, eval_batch_size=128, tokenizer=common_bert.sentencepiece_tokenizer(8000)))
  config.optimizer.update(dict(lr=3e-3, warmup_steps=50, b2=0.98, weight_decay=0.01))
  return smoke(config) if arg.smoke else config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of a 2-layer, 32-wide model on Python's help topics (they ship with Python)."""
  config.evals.task.every_steps = 0
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2, vocab_size=1000,
                           max_len=32))
  config.input.update(dict(dataset='python_help', max_seq_len=32, batch_size=8,
                           eval_batch_size=16))
  config.input.tokenizer = common_bert.sentencepiece_tokenizer(1000, 'python_help')
  config.optimizer.update(dict(warmup_steps=1, lr=1e-3))
  return config
