#!/usr/bin/env bash
# Set up a virtualenv (.venv) with every extra and run the checks: ruff, mypy, the sync-generation
# check, the docs build (mkdocs --strict), then the test suite
# against a real PostgreSQL + pgvector (the embedded server, or $VECS_TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# CPU build of torch for the `text` extra (sentence-transformers); plain `torch` would pull CUDA.
.venv/bin/python -m pip install -q "torch==2.13.0" \
  || .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
.venv/bin/python -m pip install -q -e ".[test,text,langchain,llama-index,examples,parquet,docs]"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m mypy
.venv/bin/python scripts/async_to_sync.py --check
NO_MKDOCS_2_WARNING=1 .venv/bin/python -m mkdocs build --strict --quiet -d "$(mktemp -d)"
.venv/bin/python -m pytest "$@"
