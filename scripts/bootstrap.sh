# Source me: creates or refreshes .venv with the pinned versions (constraints/ci.txt).
# torch is installed first at the CPU build's exact version, so nothing pulls a multi-GB CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
STAMP_SRC="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints/ci.txt" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.prefjudge-stamp" 2>/dev/null)" != "$STAMP_SRC" ]; then
  echo "[bootstrap] setting up $VENV (a few minutes the first time)" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  # (this machine's pip config names extra local indexes; their "Location ... is ignored" lines are noise)
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==2.13.0" 2> >(grep -v "^WARNING: Location" >&2)
  "$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints/ci.txt" -e "$ROOT[all,dev,ray,tracking,review]" \
    2> >(grep -v "^WARNING: Location" >&2)
  "$VENV/bin/python" - <<'PYCHECK'
import torch, sys
if not torch.__version__.startswith("2.13.0"):
    sys.exit(f"[bootstrap] torch changed to {torch.__version__}; expected 2.13.0 (CPU build)")
PYCHECK
  echo "$STAMP_SRC" > "$VENV/.prefjudge-stamp"
fi
export PATH="$VENV/bin:$PATH"
export LITELLM_LOCAL_MODEL_COST_MAP=True
export TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
