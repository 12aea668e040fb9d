"""BERT pretraining (MLM + NSP) on the six Jane Austen novels, on a CPU in under 30 minutes.

Corpus: Debian `r-cran-janeaustenr` (chapters are documents; every 20th chapter, offset 9, is held
out for validation, offset 19 for test). Tokenizer: an 8k sentencepiece unigram vocabulary trained
on the training chapters (about a second, cached). Model: BERT's post-LN architecture, 4 layers,
128 wide, sequences of 128 tokens.

COMMAND:
  python -m big_uni.main --config=configs/bert_austen.py --workdir=/tmp/bert_austen
Expected: see the README (measured figures, with the unigram baseline and NSP chance beside them).
"""

from configs import common, common_bert


def get_config(arg: str = 'default'):
  config = common_bert.pretraining('mini')
  config.update(dict(total_steps=3000, log_every_steps=50, eval_every_steps=500,
                     checkpoint_every_steps=500))
  # Pre-LN: at this learning rate the published post-LN stack stayed at the unigram plateau
  # (6% MLM accuracy after 550 steps, pre-LN 12% after 300).
  config.model.update(dict(width=128, depth=4, mlp_dim=512, num_heads=2, vocab_size=8000,
                           max_len=128, dropout=0.0, norm_first=True))
  config.input.update(dict(dataset='austen', max_seq_len=128, max_predictions=20, batch_size=64,
                           eval_batch_size=128, tokenizer=common_bert.austen_tokenizer(8000)))
  config.optimizer.update(dict(lr=2e-3, weight_decay=0.01, warmup_steps=300, decay='linear',
                               b2=0.98))
  return common.select_variant(config, arg, common_bert.smoke)
