# Shared by scripts/demo.sh, scripts/test.sh and scripts/infinity.sh: create a virtual environment
# and install hfe (or another server's packages) into it.
# Usage: source scripts/_venv.sh; make_venv VENV_DIR EXTRAS [MORE_PACKAGES...]

# The CPU wheel of torch 2.13.0 lies in /opt/wheels on our machines; an unpinned torch
# from PyPI would be a multi-GB CUDA build.
find_links=()
if [ -d /opt/wheels ]; then find_links=(--find-links /opt/wheels); fi

# new_venv VENV_DIR: create the virtual environment (with a current pip) unless it exists.
new_venv() {
  local venv="$1"
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq --upgrade pip
  fi
}

# venv_pip VENV_DIR PACKAGES...: pip install into VENV_DIR, quietly, with the local wheels.
venv_pip() {
  local venv="$1"
  shift
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check ${find_links[@]+"${find_links[@]}"} "$@"
}

make_venv() {
  local venv="$1" extras="$2"
  shift 2
  new_venv "$venv"
  echo "==> installing torch==2.13.0 (the CPU wheel when /opt/wheels has it), then hfe[$extras] $*"
  venv_pip "$venv" "torch==2.13.0"
  venv_pip "$venv" -e ".[$extras]" "$@"
}
