#!/usr/bin/env bash
# The pure-Python wheels benchmarks/gpu.sh needs on a GPU machine without network: into .whl/
# (ignored by git; the device tool carries it). Run where pip reaches PyPI; PYTHON is the
# interpreter whose pip downloads (default python3 from PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-python3}" -m pip download -q --no-deps --only-binary=:all: -d .whl 'ml-collections>=1.1'
ls .whl
