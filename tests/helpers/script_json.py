"""Runs a script of tests/ (or a module, as `python -m`) in a fresh Python process (so that it can
set its own fake CPU device count before JAX starts) and returns the JSON object on the last line
of its stdout."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(script: str, *args: str) -> dict:
  """`script`: a path relative to the repository root, e.g.
  'tests/helpers/scripts/sharded_steps.py'."""
  return _last_json_line(os.path.join(ROOT, script), *args)


def run_module(module: str, *args: str) -> dict:
  """`module`: e.g. 'benchmarks.host_bench'. Not as a script, whose folder would come first
  on sys.path: input_pipeline/tokenizers/ would hide Hugging Face's `tokenizers`."""
  return _last_json_line('-m', module, *args)


def _last_json_line(*args: str) -> dict:
  out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                       check=False, env={**os.environ, 'PYTHONPATH': ROOT})
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])
