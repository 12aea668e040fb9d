"""Training curves of big_uni workdirs, from their metrics.jsonl (big_uni/metrics_log.py).

A training row has 'loss' (and learning_rate, steps_per_sec, examples_per_sec, tokens_per_sec,
tflops_per_sec_per_device, mfu where the chip's peak is known: never on CPUs); every other row
holds evaluation metrics ('<split>_<metric>', or an evaluator's). Workdirs are read through
big_uni.paths, so gs:// works as it does for training.
"""
import dataclasses
import math
import os

import numpy as np

from big_uni import metrics_log, paths

# The panels `plot` draws besides the evaluation metrics: (metric, title, log scale where the
# values span a decade).
TRAIN_PANELS = (('loss', 'train loss', True),)
SYSTEM_PANELS = (('learning_rate', 'learning rate', False),
                 ('examples_per_sec', 'throughput (examples/s)', False),
                 ('mfu', 'MFU', False))


@dataclasses.dataclass
class Run:
  """One workdir's metrics.jsonl: `rows` as written (dicts with 'step')."""
  label: str
  rows: list[dict]

  @property
  def train_rows(self) -> list[dict]:
    return [r for r in self.rows if 'loss' in r]

  @property
  def eval_rows(self) -> list[dict]:
    return [r for r in self.rows if 'loss' not in r]

  @property
  def eval_metrics(self) -> list[str]:
    """Names in the evaluation rows, in the order they first appear."""
    return list(dict.fromkeys(k for r in self.eval_rows for k in r if k != 'step'))

  def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps int [n], values float [n]) of the rows that hold `name`, in file order; a null
    (None) value is NaN."""
    rows = [r for r in self.rows if name in r]
    values = [math.nan if r[name] is None else r[name] for r in rows]
    return np.array([r['step'] for r in rows], np.int64), np.array(values, np.float64)

  def has(self, name: str) -> bool:
    """Whether `name` has a finite value in some row."""
    return bool(np.isfinite(self.series(name)[1]).any())


def read_run(workdir: str, label: str | None = None) -> Run:
  """The Run of `workdir` (local or gs://), or of a metrics.jsonl path; labelled by the
  workdir's name unless `label` is given."""
  path = paths.resolve(workdir)
  if path.name != 'metrics.jsonl':
    path = path / 'metrics.jsonl'
  rows = [row for _, row in metrics_log.read_rows(path)]
  return Run(label or os.path.basename(str(path.parent).rstrip('/')), rows)


def plot(runs: list[Run], eval_metrics: list[str] | None = None, columns: int = 4):
  """One figure: a panel per metric (train loss, each evaluation metric, learning rate,
  examples/s, MFU), a line per run. `eval_metrics`: default, those of every run, perplexities
  left out (the exponential of the loss beside them). A panel with no finite value in any run
  (MFU on CPUs) says so instead. Returns the matplotlib figure."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  if eval_metrics is None:
    eval_metrics = list(dict.fromkeys(m for run in runs for m in run.eval_metrics
                                      if not m.endswith('perplexity')))
  panels = [*TRAIN_PANELS, *((m, m, m.endswith('loss')) for m in eval_metrics), *SYSTEM_PANELS]
  rows = -(-len(panels) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False)
  for ax, (name, title, log) in zip(axes.flat, panels):
    ax.set(title=title, xlabel='step')
    shown = [run for run in runs if run.has(name)]
    for run in shown:
      steps, values = run.series(name)
      ax.plot(steps, values, marker='.' if len(steps) < 20 else None, label=run.label)
    if not shown:
      ax.text(0.5, 0.5, f'no finite {name} logged\n' + ('(no peak FLOP/s known: CPU)'
                                                          if name == 'mfu' else ''),
              ha='center', va='center', transform=ax.transAxes, color='gray')
      ax.set(xticks=[], yticks=[])
    elif log and _spans_a_decade([run.series(name)[1] for run in shown]):
      ax.set_yscale('log')
  for ax in axes.flat[len(panels):]:
    ax.axis('off')
  legend = {}  # label -> line, from whichever panels have the runs.
  for ax in axes.flat:
    legend.update(zip(*reversed(ax.get_legend_handles_labels())))
  fig.legend(list(legend.values()), list(legend), loc='upper center', ncol=min(len(legend), 6),
             bbox_to_anchor=(0.5, 1.0))
  fig.tight_layout(rect=(0, 0, 1, 0.94))
  return fig


def _spans_a_decade(values: list[np.ndarray]) -> bool:
  """Whether the positive finite values span a factor of 10 (a log scale then helps)."""
  values = np.concatenate(values)
  values = values[np.isfinite(values) & (values > 0)]
  return len(values) > 0 and values.max() > 10 * values.min()
