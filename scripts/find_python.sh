#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or fail with a clear message.
# Order: $PYTHON, python3.13/python3.12 on PATH, python3, then pyenv-installed versions.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
for name in python3.12 python3.13 python3.14 python3; do
  p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null)")
roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv")
for root in "${roots[@]}"; do
  [ -n "$root" ] && [ -d "$root/versions" ] || continue
  # 3.12 first (the version the project is tested on), then newer ones
  for p in $(ls -d "$root"/versions/3.12*/bin/python3 2>/dev/null | sort -Vr) \
           $(ls -d "$root"/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -V); do candidates+=("$p"); done
done
for p in "${candidates[@]}"; do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "error: bayes_xmass needs Python >= 3.12 (PyMC 6 / ArviZ 1) and none was found." >&2
echo "       Looked at \$PYTHON, python3.1x and python3 on PATH, and pyenv versions." >&2
echo "       Install one (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12." >&2
exit 1
