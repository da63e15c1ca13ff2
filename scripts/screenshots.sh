#!/usr/bin/env bash
# Refresh the checked-in screenshots in eval/screenshots/ (chat.png, article.png,
# browser_timing.json, review.png): runs the browser tests with RAG_SCREENSHOTS_DIR there.
# A plain test run writes them to a temporary folder and leaves the repository unchanged.
# Needs the model (bash scripts/setup.sh) and chromium (bash scripts/install_browser.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
RAG_SCREENSHOTS_DIR="$PWD/eval/screenshots" exec .venv/bin/python -m pytest -q -s -m browser \
  tests/test_browser.py tests/test_review_browser.py "$@"
