#!/usr/bin/env bash
# One GPU's benchmark: ViT-B/16, BERT-base and CLIP-B/16 in bf16 (model.dtype=auto) next to their
# torch.compile peers (benchmarks/bench_peers.py), one JSON line each; about 8 minutes on one H100.
#
#   bash benchmarks/gpu.sh [RESULTS_FILE]      (default /tmp/big_uni_gpu.jsonl)
#
# First it checks cuDNN's fused attention against XLA's (tests/models/test_cudnn_attention.py).
# Where ml_collections is missing (the lent GPU machines have no TensorFlow, ml_collections or
# clu, and no network), run `bash benchmarks/fetch_wheels.sh` on a machine with pip first: it puts
# the wheel into .whl/, which this script installs into /tmp/big_uni_site.
# RUNS ("config batch" lines) and STEPS override what is measured (the CPU test uses tiny ones);
# PYTHON is the interpreter (default python3 from PATH; the test passes its own, so a venv's python
# works without activating the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-/tmp/big_uni_gpu.jsonl}
steps=${STEPS:-20}
python=${PYTHON:-python3}
runs=${RUNS:-"configs/vit_b16.py 256
configs/bert_base.py 256
configs/clip_b16.py 256"}

if ! "$python" -c 'import ml_collections' 2>/dev/null; then
  if ! compgen -G '.whl/*.whl' >/dev/null; then
    echo "ml_collections is missing and .whl/ holds no wheel: run bash benchmarks/fetch_wheels.sh" \
      "where pip reaches PyPI, or pip install ml-collections" >&2
    exit 1
  fi
  "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/big_uni_site \
    .whl/*.whl
  export PYTHONPATH=/tmp/big_uni_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$python" -c 'import jax; print("devices:", jax.devices())'
"$python" -m pytest -q -p no:cacheprovider tests/models/test_cudnn_attention.py
while read -r config batch; do
  "$python" -m benchmarks.bench --config="$config" --config.input.batch_size="$batch" \
    --steps="$steps" --peer | tail -n 1 | tee -a "$results"
done <<< "$runs"
