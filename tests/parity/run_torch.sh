#!/bin/sh
# Run a torch parity script with Debian's python3-torch: /usr/bin/python3
# (or $MM_TORCH_PYTHON). Skipped (exit 77) when that Python cannot import
# torch (tools/bootstrap.sh --test installs python3-torch).
# Usage: run_torch.sh SCRIPT ARGS...
py=${MM_TORCH_PYTHON:-/usr/bin/python3}
if [ ! -x "$py" ] || ! "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "skipped: $py cannot import torch (apt-get install python3-torch)"
    exit 77
fi
exec "$py" "$@"
