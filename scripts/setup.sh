#!/usr/bin/env bash
# Create the virtual environment with CPU-only torch and the project installed (editable), then
# build the offline embedding model. Idempotent: a second run only checks. Used by run.sh and test.sh.
# The environment lives outside the checkout (QIANXIAN_VENV, default one folder per checkout under
# ~/.cache/qianxian/venvs) so that the tree holds only the project's own files; .venv is a link to
# it, so `.venv/bin/qianxian` works as before. A checkout whose .venv is a real folder keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"

pick_python() {
  for py in "${PYTHON:-}" python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)'; then
      echo "$py"; return 0
    fi
  done
  echo "error: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -d .venv ] || [ -L .venv ]; then
  venv="${QIANXIAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/qianxian/venvs/$(basename "$PWD")-$(pwd -P | sha1sum | cut -c1-8)}"
  [ -x "$venv/bin/python" ] || { mkdir -p "$(dirname "$venv")"; "$(pick_python)" -m venv "$venv"; }
  ln -sfn "$venv" .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first, pinned to the CPU build: a bare install would pull a multi-GB CUDA build.
.venv/bin/python -c 'import torch' 2>/dev/null || "${PIP[@]}" install -c constraints.txt "torch==2.13.0"
"${PIP[@]}" install -c constraints.txt -e ".${EXTRAS:+[$EXTRAS]}" 2>&1 | grep -v "is ignored: it is neither" || true
.venv/bin/python -c 'import cli, ingest.embeddings, assistant, ui' >/dev/null
.venv/bin/qianxian models build >/dev/null
echo "environment ready: .venv -> $(readlink -f .venv) ($(.venv/bin/python --version))" >&2
