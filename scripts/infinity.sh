#!/usr/bin/env bash
# Infinity (infinity-emb, an OpenAI-compatible embedding server) in its own virtual environment,
# .venv-infinity, for tests/integration/test_infinity.py: hfe's route='openai' against a real
# third-party server. Built once and kept: a later run only checks the stamp (well under a second).
#
# Usage: bash scripts/infinity.sh                 # build (or check) .venv-infinity
#        bash scripts/infinity.sh v2 --model-id PATH --port 7997   # build, then run infinity_emb
#
# Its packages never meet hfe's: Infinity 0.0.78 needs sentence-transformers < 4, transformers <= 5.0
# and numpy < 2, where hfe's test environment has sentence-transformers 6 and transformers 5.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
venv="${HFE_INFINITY_VENV:-.venv-infinity}"
# The minimal extras that serve embeddings on CPU (no ONNX, CTranslate2, vision or audio), and the
# releases that resolve with torch 2.13.0; change this line to rebuild.
packages=("torch==2.13.0" "infinity-emb[server,torch]==0.0.78" "sentence-transformers==3.4.1" "transformers==4.57.6" "numpy==1.26.4")
stamp="$venv/.hfe-stamp"
if [ ! -x "$venv/bin/infinity_emb" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${packages[*]}" ]; then
  started=$SECONDS
  new_venv "$venv"
  echo "==> installing ${packages[*]} into $venv"
  venv_pip "$venv" "${packages[0]}"
  venv_pip "$venv" "${packages[@]:1}"
  echo "${packages[*]}" > "$stamp"
  echo "==> $venv ready in $((SECONDS - started)) s"
fi
if [ $# -gt 0 ]; then
  export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" INFINITY_ANONYMOUS_USAGE_STATS=0 DO_NOT_TRACK=1
  exec "$venv/bin/infinity_emb" "$@"
fi
