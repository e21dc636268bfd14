#!/usr/bin/env bash
# Configure (when needed) and build mm.
#
#   bash tools/build.sh [BUILD_DIR] [meson options...]
#
# BUILD_DIR defaults to `build`; a relative path is taken from the repository
# root. A build dir that is not configured yet is set up with the options; one
# that is gets `meson setup --reconfigure` only when options are given.
# With CI=true, warnings are errors (-Dwerror=true).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

builddir=build
if (($# > 0)) && [[ "$1" != -* ]]; then
  builddir="$1"
  shift
fi
opts=("$@")
if [[ "${CI:-}" == true ]]; then
  opts+=(-Dwerror=true)
fi

if [[ ! -f "$builddir/meson-private/coredata.dat" ]]; then
  meson setup "$builddir" "${opts[@]}"
elif (($# > 0)); then
  meson setup --reconfigure "$builddir" "${opts[@]}"
fi

ninja -C "$builddir"
