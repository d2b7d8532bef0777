# Sourced by scripts/dev and scripts/test: makes .venv on first use, and reinstalls when
# pyproject.toml changes. Needs Python 3.11 or newer on PATH (or in $PYTHON).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Passage needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 1
}

ensure_env() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv (first run)..." >&2
    "$(find_python)" -m venv .venv
  fi
  local stamp=".venv/.installed-${extras:-base}"
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing Passage and its dependencies into .venv (a minute or two the first time)..." >&2
    local log=".venv/install.log"
    if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
      .venv/bin/python -m pip install --disable-pip-version-check -e ".${extras:+[$extras]}"; } >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      echo "Installing failed; the whole log is in $log" >&2
      return 1
    fi
    echo "$want" >"$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}
