# Shared by scripts/demo.sh and scripts/test.sh: create a virtual environment and install hfe into it.
# Usage: source scripts/_venv.sh; make_venv VENV_DIR EXTRAS [MORE_PACKAGES...]
make_venv() {
  local venv="$1" extras="$2"
  shift 2
  local find_links=()
  # The CPU wheel of torch 2.13.0 lies in /opt/wheels on our machines; an unpinned torch
  # from PyPI would be a multi-GB CUDA build.
  if [ -d /opt/wheels ]; then find_links=(--find-links /opt/wheels); fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq --upgrade pip
  fi
  local pip=("$venv/bin/python" -m pip install -qq --disable-pip-version-check ${find_links[@]+"${find_links[@]}"})
  echo "==> installing torch==2.13.0 (the CPU wheel when /opt/wheels has it), then hfe[$extras] $*"
  "${pip[@]}" "torch==2.13.0"
  "${pip[@]}" -e ".[$extras]" "$@"
}
