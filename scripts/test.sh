#!/usr/bin/env bash
# README command 2: install test dependencies (the .[milvus] extra, LLM runtime and model,
# chromium) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check rag tests app.py
exec .venv/bin/python -m pytest "$@"
