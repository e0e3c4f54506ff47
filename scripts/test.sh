#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: installs what the tests need (Debian packages for
# the browser test, LibreOffice for the .doc/.wps tests, the CJK font the OCR tests print scans in, libGL for
# OpenCV under RapidOCR; the Python test extras), builds the offline model once, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pkg in chromium chromium-driver fonts-noto-cjk libreoffice-writer-nogui libgl1 libglib2.0-0; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash scripts/setup.sh test
mkdir -p artifacts
exec .venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=artifacts/junit.xml "$@"
