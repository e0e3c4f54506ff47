#!/usr/bin/env bash
# The main job on a fresh machine: set up, ingest the bundled corpus, serve the chat UI on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/qianxian ingest corpus
exec .venv/bin/qianxian serve --host 127.0.0.1 --port "${PORT:-7860}"
