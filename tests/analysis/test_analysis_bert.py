"""big_uni/analysis: BERT's fill-mask, NSP and attention maps on a tiny random model; curves.py on
a metrics.jsonl written here."""
import json
import math

import flax.linen as nn
import jax
import matplotlib
import numpy as np
import pytest

from big_uni import models
from big_uni.analysis import bert, curves
from big_uni.models import transformer
from configs import bert_austen
from input_pipeline import tokenizers

matplotlib.use('Agg')

SENTENCE = 'The help topics list the [MASK] of the module, and its functions.'


@pytest.fixture(scope='module')
def tiny():
  """(config, model, params, tokenizer): the smoke BERT (2 layers, 32 wide, 1,000 tokens of
  Python's help topics), randomly initialised."""
  config = bert_austen.get_config('smoke')
  model = models.build_model(config.model)
  ids = np.zeros((1, 8), np.int32)
  params = model.init(jax.random.key(0), ids, ids, ids == 0, np.zeros((1, 1), np.int32))
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  return config, model, jax.tree.map(np.asarray, nn.unbox(params['params'])), tokenizer


def _apply(model, params, batch, positions):
  return model.apply({'params': params}, batch['input_ids'], batch['segment_ids'],
                     batch['input_mask'], np.asarray(positions, np.int32))


def test_mask_encodes_as_the_piece_it_replaced(tiny):
  *_, tokenizer = tiny
  ids = bert.encode(tokenizer, 'the [MASK] of it')
  plain = tokenizer.encode('the list of it')
  assert len(ids) == len(plain) and ids.count(tokenizer.mask_id) == 1
  assert [i for i in ids if i != tokenizer.mask_id] == [i for i in plain if
                                                          tokenizer.pieces[i] != '\u2581list']


def test_inputs_follow_the_pretraining_layout(tiny):
  *_, tokenizer = tiny
  pair = bert.inputs(tokenizer, [10, 11, 12], [13, 14])
  cls, sep = tokenizer.cls_id, tokenizer.sep_id
  np.testing.assert_array_equal(pair['input_ids'], [[cls, 10, 11, 12, sep, 13, 14, sep]])
  np.testing.assert_array_equal(pair['segment_ids'], [[0, 0, 0, 0, 0, 1, 1, 1]])
  assert pair['input_mask'].all()
  single = bert.inputs(tokenizer, [10, 11])
  np.testing.assert_array_equal(single['input_ids'], [[cls, 10, 11, sep]])
  assert not single['segment_ids'].any()


def test_fill_mask_reports_the_masked_position_and_its_distribution(tiny):
  _, model, params, tokenizer = tiny
  text = SENTENCE.replace('[MASK]', '[MASK] [MASK]', 1)
  predictions = bert.fill_mask(model, params, tokenizer, text, top_k=5)
  before = bert.encode(tokenizer, text.split('[MASK]')[0])
  assert [p.position for p in predictions] == [len(before) + 1, len(before) + 2]
  batch = bert.inputs(tokenizer, bert.encode(tokenizer, text))
  assert batch['input_ids'][0, predictions[0].position] == tokenizer.mask_id
  full = bert.mlm_probabilities(model, params, batch, [[p.position for p in predictions]])[0]
  np.testing.assert_allclose(full.sum(-1), 1.0, atol=1e-5)  # Over the whole vocabulary.
  for prediction, probabilities in zip(predictions, full):
    order = np.argsort(-probabilities, kind='stable')[:5]
    np.testing.assert_array_equal(prediction.ids, order)
    np.testing.assert_allclose(prediction.probabilities, probabilities[order], rtol=1e-6)
    assert prediction.pieces == [tokenizer.pieces[i] for i in order]
    assert 0 < prediction.probabilities.sum() <= 1 + 1e-6
    assert (np.diff(prediction.probabilities) <= 0).all()
  # The distribution is the one at that position: another position's differs.
  elsewhere = bert.mlm_probabilities(model, params, batch, [[1]])[0, 0]
  assert np.abs(elsewhere - full[0]).max() > 1e-4


def test_token_ranks_mask_one_token_per_row(tiny):
  _, model, params, tokenizer = tiny
  sentence = SENTENCE.replace('[MASK]', 'names')
  result = bert.token_ranks(model, params, tokenizer, sentence)
  ids = tokenizer.encode(sentence)
  assert result['pieces'] == [tokenizer.pieces[i] for i in ids]
  t = 3
  batch = bert.inputs(tokenizer, ids)
  batch['input_ids'][0, t + 1] = tokenizer.mask_id
  probabilities = np.asarray(jax.nn.softmax(_apply(model, params, batch, [[t + 1]])[0][0, 0]))
  np.testing.assert_allclose(result['probability'][t], probabilities[ids[t]], rtol=1e-5)
  assert result['rank'][t] == int((probabilities > probabilities[ids[t]]).sum())
  assert ((result['rank'] >= 0) & (result['rank'] < tokenizer.vocab_size)).all()


def test_nsp_probability_is_the_is_next_softmax(tiny):
  _, model, params, tokenizer = tiny
  a, b = 'The module has functions.', 'Each of them has a docstring.'
  p = bert.nsp_probability(model, params, tokenizer, a, b)
  batch = bert.inputs(tokenizer, tokenizer.encode(a), tokenizer.encode(b))
  logits = np.asarray(_apply(model, params, batch, [[0]])[1][0])
  assert 0 <= p <= 1
  assert math.isclose(p, math.exp(logits[0]) / np.exp(logits).sum(), rel_tol=1e-5)
  assert not math.isclose(p, bert.nsp_probability(model, params, tokenizer, b, a), rel_tol=1e-6)


def test_attention_maps_have_one_distribution_per_query(tiny):
  config, model, params, tokenizer = tiny
  weights, pieces = bert.attention_maps(model, params, tokenizer, SENTENCE)
  length = len(bert.encode(tokenizer, SENTENCE)) + 2
  assert weights.shape == (config.model.depth, config.model.num_heads, length, length)
  assert pieces[0] == '[CLS]' and pieces[-1] == '[SEP]' and len(pieces) == length
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  assert weights.std() > 1e-3  # Not uniform.
  # Scanned layers sow them stacked; the maps are the same.
  with config.unlocked():
    config.model.scan_layers = True
  scanned = models.build_model(config.model)
  stacked = transformer.stack_layers(params)
  np.testing.assert_allclose(bert.attention_maps(scanned, stacked, tokenizer, SENTENCE)[0],
                             weights, atol=1e-6)


ROWS = [
    {'step': 10, 'loss': 2.0, 'learning_rate': 0.001, 'examples_per_sec': 100.0},
    {'step': 20, 'loss': 1.5, 'learning_rate': 0.002, 'examples_per_sec': 120.0, 'mfu': None},
    {'step': 20, 'validation_accuracy': 0.5, 'validation_loss': 1.4,
     'validation_perplexity': 4.1},
    {'step': 30, 'loss': 1.2, 'learning_rate': 0.001, 'examples_per_sec': 110.0},
    {'step': 30, 'validation_accuracy': 0.6, 'validation_loss': float('nan'), 'knn_top1': 0.3},
]


def test_curves_read_rows_back_grouped_as_written(tmp_path):
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    f.writelines(json.dumps(row) + '\n' for row in ROWS)
  run = curves.read_run(str(tmp_path))
  assert run.label == tmp_path.name
  assert run.rows[:2] == ROWS[:2] and run.rows[3] == ROWS[3]
  assert [r['step'] for r in run.train_rows] == [10, 20, 30]
  assert [r['step'] for r in run.eval_rows] == [20, 30]
  assert run.eval_metrics == ['validation_accuracy', 'validation_loss', 'validation_perplexity',
                              'knn_top1']
  steps, values = run.series('loss')
  np.testing.assert_array_equal(steps, [10, 20, 30])
  np.testing.assert_array_equal(values, [2.0, 1.5, 1.2])
  steps, values = run.series('validation_loss')
  np.testing.assert_array_equal(steps, [20, 30])
  assert values[0] == 1.4 and math.isnan(values[1])
  assert not run.has('mfu') and run.has('examples_per_sec')
  assert curves.read_run(str(tmp_path / 'metrics.jsonl'), 'named').label == 'named'


def test_curves_plot_a_line_per_run_and_a_note_without_mfu(tmp_path):
  runs = []
  for name, scale in (('a', 1.0), ('b', 2.0)):
    (tmp_path / name).mkdir()
    with open(tmp_path / name / 'metrics.jsonl', 'w') as f:
      f.writelines(json.dumps({k: v * scale if k not in ('step', 'mfu') and v else v
                               for k, v in row.items()}) + '\n' for row in ROWS)
    runs.append(curves.read_run(str(tmp_path / name)))
  fig = curves.plot(runs)
  titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
  assert titles == ['train loss', 'validation_accuracy', 'validation_loss', 'knn_top1',
                    'learning rate', 'throughput (examples/s)', 'MFU']
  panel = dict(zip(titles, fig.axes))
  loss_lines = panel['train loss'].get_lines()
  assert [line.get_label() for line in loss_lines] == ['a', 'b']
  np.testing.assert_array_equal(loss_lines[1].get_ydata(), [4.0, 3.0, 2.4])
  assert not panel['MFU'].get_lines() and 'no finite mfu' in panel['MFU'].texts[0].get_text()
