#!/usr/bin/env bash
# The whole test suite from a fresh machine: its own virtual environment, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
make_venv .venv-test "test,lint"
# Infinity, the third-party OpenAI-compatible server of tests/integration/test_infinity.py (own venv,
# built once); the test fails rather than skips when it is missing.
bash scripts/infinity.sh
export HFE_REQUIRE_INFINITY=1
py=.venv-test/bin/python
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "== ruff"; "$py" -m ruff check .
echo "== ruff format"; "$py" -m ruff format --check .
echo "== mypy"; "$py" -m mypy
echo "== pytest"; "$py" -m pytest "$@"
