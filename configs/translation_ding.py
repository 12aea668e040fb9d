"""German -> English translation with the Transformer (Vaswani et al. 2017) on a CPU.

Data: Ding's 21k German-English example sentences (Debian `trans-de-en`, input_pipeline/ding.py):
real human translations of dictionary examples, ~7.5 words a side; 19,251 / 1,070 / 1,069
train / validation / test pairs. One 4k sentencepiece vocabulary for both languages, trained on
the training pairs (at 32 tokens a side, 496 training pairs are longer and left out). Model: models/encoder_decoder.py (post-LN, ReLU, shared tied embedding,
sinusoidal positions), 2 + 2 layers 256 wide: base's recipe at a CPU's size. Recipe: the paper's Adam (b2 0.98, eps 1e-9),
warmup + inverse square root schedule, label smoothing 0.1, dropout 0.1. Evaluation: the task's
perplexity and sacrebleu BLEU of beam-4 (length penalty 0.6) and greedy translations against the
uncut reference sentences.

COMMAND:
  python -m big_uni.main --config=configs/translation_ding.py --workdir=/tmp/translation_ding
Expected (measured 2026-12-07 on this 2-core CPU, 4,710,400 params, 1,500 steps of 64 pairs;
19 min 25 s wall with the CPU reserved for it (docs/results.md, "Timing"), 1.16-1.52 steps/s;
an earlier run beside other jobs took 49 min 46 s and gave the same figures to the last digit):
validation perplexity 56.3 (next-token accuracy 30.0%), BLEU 0.43 with beam 4 and 0.86 greedy,
0 exact. Copying the German source scores 0.12. The model writes fluent-looking English
unrelated to its source: 19k pairs and 5 epochs are far from enough for this corpus; the
`reverse` variant shows the same model and recipe do learn to align.

  python -m big_uni.main --config=configs/translation_ding.py:reverse \
      --workdir=/tmp/translation_reverse
Expected (measured the same day, 600 steps, 14 min 21 s wall at load 3-5): validation
perplexity 3.14 (accuracy 77.4%); BLEU 50.1 with beam 4 (20.9% exact), 48.7 greedy (19.7%).

Variants (`--config=configs/translation_ding.py:<arg>`):
  smoke     a few steps of a 2+2-layer, 32-wide model on Ding (CI).
  reverse   ALGORITHMIC, not translation: Ding's English sentences written with their words in
            reverse order (dataset ding_en_reversed), same model, vocabulary and recipe, 600
            steps: it shows the encoder-decoder aligning through cross-attention.
  wmt14     the paper's base model on TFDS wmt14_translate/de-en (English -> German, 37k
            shared vocabulary, 100k steps of ~25k tokens on 8 GPUs in the paper); it downloads.
            `--mode=shapes` gives its 63,082,496 parameters (the paper's Table 3 says 65M).
"""
import ml_collections

from configs import common, common_translation


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, smoke=False, wmt14=False, reverse=False)
  if arg.wmt14:
    return wmt14()
  config = common.core(task='translation', total_steps=1500, log_every_steps=100,
                       checkpoint_every_steps=500, label_smoothing=0.1)
  config.model = ml_collections.ConfigDict(dict(
      name='encoder_decoder', variant='transformer_base', width=256, depth=2, mlp_dim=1024,
      num_heads=4, vocab_size=4000))
  config.input = common_translation.ding_input(vocab_size=4000, batch_size=64)
  config.input.eval_batch_size = 256
  config.optimizer = common_translation.paper_optimizer(d_model=256, warmup_steps=400)
  config.evals.task.every_steps = 500
  config.evals.beam4 = dict(kind='generation', beam_size=4, alpha=0.6)
  config.evals.greedy = dict(kind='generation', beam_size=1)
  if arg.reverse:
    config.input.update(dict(dataset='ding_en_reversed', source_language='en',
                             target_language='reversed'))
    config.total_steps = 600
    config.checkpoint_every_steps = 600
    config.evals.task.every_steps = 0
  return smoke(config) if arg.smoke else config


def wmt14() -> ml_collections.ConfigDict:
  """The paper's base model and recipe on WMT14 English -> German."""
  config = common.core(task='translation', total_steps=100_000, log_every_steps=100,
                       checkpoint_every_steps=5000, label_smoothing=0.1)
  config.model = ml_collections.ConfigDict(dict(
      name='encoder_decoder', variant='transformer_base', vocab_size=37000))
  config.input = common_translation.wmt14_input()
  config.optimizer = common_translation.paper_optimizer(d_model=512, warmup_steps=4000)
  config.evals.task.every_steps = 5000
  config.evals.beam4 = dict(kind='generation', beam_size=4, alpha=0.6, split='test')
  return config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=32, depth=2, mlp_dim=64, num_heads=2))
  config.input.update(dict(batch_size=8, eval_batch_size=64))
  config.optimizer.warmup_steps = 2
  config.evals.task.every_steps = 0
  del config.evals['greedy']
  return config
