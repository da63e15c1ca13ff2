#!/usr/bin/env bash
# README command 1: set up, index corpus/ and start the app on http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rag index
.venv/bin/rag docs
exec .venv/bin/python app.py
