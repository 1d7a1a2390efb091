#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install bayes_xmass with its test extras.
# Versions are pinned by constraints.txt (the set the tests and README figures were checked with).
# Re-installs only when pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.installed-pyproject.sha256"
extras="${BAYES_XMASS_EXTRAS:-test}"
want="$(cat "$here/pyproject.toml" "$here/constraints.txt" | sha256sum | cut -d' ' -f1) $extras"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then
  py=$("$here/scripts/find_python.sh")
  echo "bootstrap: creating .venv with $py ($("$py" --version 2>&1))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing bayes_xmass and dependencies into .venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip 2>/dev/null || true
  "$venv/bin/python" -m pip install --quiet -c "$here/constraints.txt" -e "$here[$extras]"
  echo "$want" > "$stamp"
fi
