#!/usr/bin/env bash
# Creates or refreshes .venv-label-studio: the Label Studio server that the review tests
# (tests/test_review_server.py) start. The server has heavy pinned dependencies of its own (Django...),
# so it lives in its own venv, never in .venv (which holds only the client, label-studio-sdk).
# Prints the path of the server binary on its last line. Run it directly or let the test run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABEL_STUDIO_VENV:-$ROOT/.venv-label-studio}"
VERSION="1.23.2"
PY="${PYTHON:-python3}"
STAMP_SRC="label-studio==$VERSION $(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
# One set-up at a time: scripts/test starts this in the background while the suite runs, and the
# review test runs it again; the second waits here and then finds the venv ready.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [ ! -x "$VENV/bin/label-studio" ] || [ "$(cat "$VENV/.prefjudge-stamp" 2>/dev/null)" != "$STAMP_SRC" ]; then
  echo "[label-studio-venv] setting up $VENV with label-studio==$VERSION (a few minutes the first time)" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # (this machine's pip config names extra local indexes; their "Location ... is ignored" lines are noise)
  "$VENV/bin/pip" install -q --disable-pip-version-check "label-studio==$VERSION" 2> >(grep -v "^WARNING: Location" >&2)
  "$VENV/bin/python" - "$VERSION" <<'PYCHECK'
import sys
from importlib.metadata import version
if version("label-studio") != sys.argv[1]:
    sys.exit(f"[label-studio-venv] installed label-studio {version('label-studio')}, expected {sys.argv[1]}")
PYCHECK
  echo "$STAMP_SRC" > "$VENV/.prefjudge-stamp"
fi
echo "$VENV/bin/label-studio"
