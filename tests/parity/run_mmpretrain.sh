#!/bin/sh
# Run a script with a Python that has mmpretrain: $MM_MMPRETRAIN_PYTHON, or
# tools/.venv-mmpretrain/bin/python (made by tools/bootstrap.sh --test).
# Skipped (exit 77) when neither can import mmpretrain.
# Usage: run_mmpretrain.sh SCRIPT ARGS...
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${MM_MMPRETRAIN_PYTHON:-$root/tools/.venv-mmpretrain/bin/python}
if [ ! -x "$py" ] || ! "$py" -c 'import mmpretrain' >/dev/null 2>&1; then
    echo "skipped: $py cannot import mmpretrain (tools/bootstrap.sh --test)"
    exit 77
fi
exec "$py" "$@"
