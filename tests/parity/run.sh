#!/bin/sh
# Run a parity script with the Python that has the oracles: $1 if given,
# else tools/.venv/bin/python (made by tools/bootstrap.sh --test). Decided
# when the test runs, so a build configured before the venv existed still
# runs the suite; with no such Python the test is skipped (exit 77).
# Usage: run.sh PYTHON_OR_EMPTY SCRIPT ARGS...
py=$1
shift
if [ -z "$py" ]; then
    py="$(cd "$(dirname "$0")/../.." && pwd)/tools/.venv/bin/python"
fi
if [ ! -x "$py" ]; then
    echo "skipped: no Python with the oracles at $py (run tools/bootstrap.sh --test)"
    exit 77
fi
exec "$py" "$@"
