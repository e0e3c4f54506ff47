#!/usr/bin/env bash
# Create .venv with CPU-only torch and the project installed (editable), then build the offline
# embedding model. Idempotent: a second run only checks. Used by run.sh and test.sh.
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

if [ ! -x .venv/bin/python ]; then
  "$(pick_python)" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first, pinned to the CPU build: a bare install would pull a multi-GB CUDA build.
.venv/bin/python -c 'import torch' 2>/dev/null || "${PIP[@]}" install -c constraints.txt "torch==2.13.0"
"${PIP[@]}" install -c constraints.txt -e ".${EXTRAS:+[$EXTRAS]}" 2>&1 | grep -v "is ignored: it is neither" || true
.venv/bin/python -c 'import cli, ingest.embeddings, assistant, ui' >/dev/null
.venv/bin/qianxian models build >/dev/null
echo "environment ready: .venv ($(.venv/bin/python --version))" >&2
