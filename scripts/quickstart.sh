#!/usr/bin/env bash
# Set up a virtualenv (.venv) with vecs-core and run the quick-start demo on the embedded database.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
.venv/bin/python examples/quickstart.py
