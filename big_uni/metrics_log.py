"""Console progress lines. The metric writers (metrics.jsonl, TensorBoard events), steps/s and
the profile of a few steps go through clu in big_uni/clu_logging.py, which train_and_evaluate
imports: this module stays free of clu and TensorFlow for the benchmark path."""
import jax


def log(message: str):
  """Console progress from process 0 (absl INFO logs are off by default in main)."""
  if jax.process_index() == 0:
    print(message, flush=True)
