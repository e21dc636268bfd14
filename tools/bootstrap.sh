#!/usr/bin/env bash
# Install what building and testing mm needs on Debian 12.
#
#   bash tools/bootstrap.sh          build dependencies (apt)
#   bash tools/bootstrap.sh --test   ... plus python3-torch,
#                                    python3-torchvision, python3-skimage
#                                    (apt; the PyTorch parity suite and test
#                                    photos), tools/.venv with the mmengine
#                                    oracle and tools/.venv-mmpretrain with
#                                    the mmpretrain oracle over Debian's
#                                    torch (pip)
#
# Idempotent: packages already installed and venvs that already import
# their oracle are left alone, so a re-run takes about a second.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/tools/.venv"
pip_pkgs=(mmengine==0.10.7)
mmpretrain_pkgs=(mmpretrain==1.2.0 mmcv-lite==2.2.0 mmengine==0.10.7 "numpy<2"
                 "opencv-python-headless<4.11")
apt_pkgs=(build-essential meson ninja-build pkg-config cmake
          libyaml-dev libuv1-dev libdnnl-dev libstb-dev zlib1g-dev
          dataset-fashion-mnist
          python3 python3-venv python3-pip)
# Test oracles from the distribution: Debian's PyTorch (1.13) for the op and
# optimizer parity suite, run with /usr/bin/python3 (tests/parity/run_torch.sh).
test_apt_pkgs=(python3-torch python3-torchvision python3-skimage)

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bootstrap: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "bootstrap: $*"; }

if ((want_test)); then
  apt_pkgs+=("${test_apt_pkgs[@]}")
fi

# --- system packages -------------------------------------------------------
missing=()
for p in "${apt_pkgs[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  say "system packages: all ${#apt_pkgs[@]} installed"
else
  say "installing: ${missing[*]}"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { say "need root (or sudo) to run apt-get" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
fi

# --- test oracles (Python venv) --------------------------------------------
if ((want_test)); then
  py="$venv/bin/python"
  if [[ -x "$py" ]] && "$py" -c 'import mmengine' >/dev/null 2>&1; then
    say "venv: $venv already has mmengine"
  else
    if ! [[ -x "$py" ]] || ! "$py" -m pip --version >/dev/null 2>&1; then
      say "creating venv $venv (Debian /usr/bin/python3)"
      /usr/bin/python3 -m venv --clear "$venv"
    fi
    say "pip install ${pip_pkgs[*]} (and its dependencies)"
    "$py" -m pip install --quiet --disable-pip-version-check --no-input "${pip_pkgs[@]}"
    "$py" -c 'import mmengine; print("bootstrap: mmengine", mmengine.__version__)'
  fi
fi

if ((want_test)); then
  # mmpretrain runs on Debian's torch 1.13 (system site packages); numpy
  # and opencv pinned to builds that work with it.
  mvenv="$root/tools/.venv-mmpretrain"
  mpy="$mvenv/bin/python"
  if [[ -x "$mpy" ]] && "$mpy" -c 'import mmpretrain' >/dev/null 2>&1; then
    say "venv: $mvenv already has mmpretrain"
  else
    say "creating venv $mvenv (Debian /usr/bin/python3, system site packages)"
    /usr/bin/python3 -m venv --clear --system-site-packages "$mvenv"
    "$mpy" -m pip install --quiet --disable-pip-version-check --no-input \
      "${mmpretrain_pkgs[@]}"
    "$mpy" -c 'import mmpretrain; print("bootstrap: mmpretrain", mmpretrain.__version__)'
  fi
fi
say "done"
