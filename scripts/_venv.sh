# Shared by scripts/demo.sh and scripts/test.sh: create a virtual environment and install hfe into it.
# Usage: source scripts/_venv.sh; make_venv VENV_DIR 'EXTRAS'
make_venv() {
  local venv="$1" extras="$2"
  local find_links=()
  # The CPU wheel of torch 2.13.0 lies in /opt/wheels on our machines; an unpinned torch
  # from PyPI would be a multi-GB CUDA build.
  if [ -d /opt/wheels ]; then find_links=(--find-links /opt/wheels); fi
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
  fi
  "$venv/bin/python" -m pip install -q "${find_links[@]}" "torch==2.13.0"
  "$venv/bin/python" -m pip install -q "${find_links[@]}" -e ".[$extras]"
}
