"""Console progress lines. The metric writers (metrics.jsonl, TensorBoard events), steps/s and
the profile of a few steps go through clu in big_uni/clu_logging.py, which train_and_evaluate
imports: this module stays free of clu and TensorFlow for the benchmark path. It also reads
metrics.jsonl back (resume, notebooks)."""
import json

import jax
import numpy as np
from absl import logging
from etils import epath

from big_uni import paths


def log(message: str):
  """Console progress from process 0 (absl INFO logs are off by default in main)."""
  if jax.process_index() == 0:
    print(message, flush=True)


def read_rows(path: epath.Path) -> list[tuple[str, dict]]:
  """(line, row) of each line of a metrics.jsonl. A line that is not JSON (the end of a file
  cut off mid-write by a crash, or an edit) is left out with a warning."""
  rows = []
  for number, line in enumerate(path.read_text().splitlines(keepends=True) if path.exists()
                                else [], 1):
    if not line.strip():
      continue
    try:
      rows.append((line if line.endswith('\n') else line + '\n', json.loads(line)))
    except json.JSONDecodeError:
      logging.warning('%s:%d is not a JSON row (%r...): left out', path, number, line[:60])
  return rows


def recorded_metrics(rows: list[tuple[str, dict]], step: int) -> dict[str, float]:
  """The metrics that metrics.jsonl's `rows` (read_rows) hold for `step` (non-finite ones as
  NaN)."""
  recorded = {}
  for _, row in rows:
    if row['step'] == step:
      recorded.update({k: float('nan') if v is None else v for k, v in row.items()
                       if k != 'step'})
  return recorded


def save_window(workdir: epath.Path, step: int, step_metrics: list[dict]):
  """Keeps the per-step metrics (fetched numpy scalars) of the steps since the last row, when a
  preemption stops the run between two rows: the rerun from `step` averages them into its next
  row (load_window), which then equals the uninterrupted run's, bit for bit. Written before the
  checkpoint of `step`, as the rows are."""
  if jax.process_index() != 0:
    return
  window = [{name: [value.dtype.name, value.item()] for name, value in metrics.items()}
            for metrics in step_metrics]
  directory = workdir / 'metrics_window'
  directory.mkdir(exist_ok=True)
  paths.write_whole(directory / f'{step}.json', json.dumps(window).encode())


def load_window(workdir: epath.Path, step: int) -> list[dict]:
  """The per-step metrics save_window kept at `step` (none when the run did not stop there
  between rows), with their dtypes."""
  path = workdir / 'metrics_window' / f'{step}.json'
  if not path.exists():
    return []
  return [{name: np.dtype(dtype).type(value) for name, (dtype, value) in metrics.items()}
          for metrics in json.loads(path.read_text())]
