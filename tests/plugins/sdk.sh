#!/usr/bin/env bash
# The SDK end to end, as a third party uses it:
#  1. build tests/plugins/ext with plain meson against the uninstalled tree
#     (meson-uninstalled/mm-uninstalled.pc), check it exports one symbol,
#     install it with `mm plugin install`, and validate a config that names
#     its components next to in-tree ones;
#  2. `meson install` mm into a staging root and build ext again against the
#     installed SDK (mm.pc) with the one-line cc command and with meson.
set -u
: "${MM:?}" "${MM_BUILD_ROOT:?}" "${MM_SOURCE_ROOT:?}"
command -v pkg-config >/dev/null || { echo "pkg-config missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/xdg"
unset MM_PLUGIN_PATH
ext_src="$MM_SOURCE_ROOT/tests/plugins/ext"
cfg="$tmp/ext_pipeline.yaml"
fail=0
check() { # DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@" >"$tmp/log" 2>&1; then
    echo "ok   $what"
  else
    echo "FAIL: $what"; cat "$tmp/log"; fail=$((fail + 1))
  fi
}

cat >"$cfg" <<'YAML'
default_scope: mmcls
model: {type: ext.TinyNet, in_features: 784, num_classes: 10}
train_pipeline:
  - type: Compose                      # the core's
    transforms:
      - {type: ext.TinyShift, offset: 2}
  - {type: ext.TinyFilter, min_label: 1}
val_evaluator: {type: Accuracy, topk: [1, 5]}   # mmcls, in tree
YAML

# 1. Against the build tree.
check "meson setup against mm-uninstalled.pc" env \
  PKG_CONFIG_PATH="$MM_BUILD_ROOT/meson-uninstalled" \
  meson setup "$tmp/ext-build" "$ext_src"
check "ninja builds ext.so" ninja -C "$tmp/ext-build"
syms=$(nm -D --defined-only "$tmp/ext-build/ext.so" | grep -c ' mm' || true)
[[ "$syms" == 1 ]] && echo "ok   ext.so exports one mm symbol" ||
  { echo "FAIL: ext.so exports $syms mm symbols"; nm -D --defined-only "$tmp/ext-build/ext.so"; fail=$((fail + 1)); }
check "mm plugin install ext.so" "$MM" plugin install "$tmp/ext-build/ext.so"
check "mm plugin info ext" "$MM" plugin info ext
grep -q "ext.TinyShift: add an offset to gt_label" "$tmp/log" &&
  grep -q "ext.TinyNet: a two-layer perceptron" "$tmp/log" ||
  { echo "FAIL: info ext lacks TinyShift or TinyNet"; cat "$tmp/log"; fail=$((fail + 1)); }
check "a config naming ext components validates" "$MM" config validate "$cfg"
if "$MM" config validate "$cfg" 'train_pipeline.1.min_labl=2' >"$tmp/log" 2>&1; then
  echo "FAIL: a misspelt ext parameter validated"; fail=$((fail + 1))
elif grep -qF "train_pipeline.1: ext.TinyFilter has no parameter 'min_labl' (did you mean 'min_label'?)" "$tmp/log"; then
  echo "ok   a misspelt ext parameter is named with a did-you-mean"
else
  echo "FAIL: unexpected message"; cat "$tmp/log"; fail=$((fail + 1))
fi
if "$MM" config validate "$cfg" 'model.hiden=8' >"$tmp/log" 2>&1; then
  echo "FAIL: a misspelt TinyNet parameter validated"; fail=$((fail + 1))
elif grep -qF "model: ext.TinyNet has no parameter 'hiden' (did you mean 'hidden'?)" "$tmp/log"; then
  echo "ok   a misspelt model parameter is named with a did-you-mean"
else
  echo "FAIL: unexpected message"; cat "$tmp/log"; fail=$((fail + 1))
fi
# A hook of the out-of-tree plugin, run by `mm run train` on the runner
# suite's toy components (rtest, from the build tree).
cat >"$tmp/count_hook.yaml" <<YAML
default_scope: rtest
work_dir: $tmp/work_count
model: {type: ToyClassifier}
train_dataloader:
  batch_size: 4
  num_workers: 0
  dataset: {type: Blobs, n: 16}
  sampler: {type: DefaultSampler, shuffle: false}
train_cfg: {by_epoch: true, max_epochs: 2}
optim_wrapper: {optimizer: {type: SGD, lr: 0.1}}
custom_hooks: [{type: ext.CountHook, priority: LOW}]
YAML
if "$MM" --plugin-path "$MM_BUILD_ROOT/tests/runner" run train \
    "$tmp/count_hook.yaml" >"$tmp/log" 2>&1 &&
  grep -q "CountHook: 2 epochs, 8 iterations, 0 validations (runner at epoch 2, iter 8)" "$tmp/log"; then
  echo "ok   ext.CountHook runs inside mm run train"
else
  echo "FAIL: ext.CountHook in mm run train"; cat "$tmp/log"; fail=$((fail + 1))
fi
check "mm plugin remove ext" "$MM" plugin remove ext

# 2. Against an installed SDK in a staging root.
stage="$tmp/stage"
check "meson install into a staging root" env DESTDIR="$stage" \
  meson install -C "$MM_BUILD_ROOT" --no-rebuild --quiet
pc=$(find "$stage" -name mm.pc | head -n 1)
if [[ -z "$pc" ]]; then
  echo "FAIL: no mm.pc installed"; fail=$((fail + 1))
else
  export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$stage"
  # pkgconf prefixes variables with the sysroot too; pkg-config may not.
  plugindir=$(pkg-config --variable=plugindir mm)
  libdir=$(pkg-config --variable=libdir mm)
  [[ "$plugindir" == "$stage"* ]] || plugindir="$stage$plugindir"
  [[ "$libdir" == "$stage"* ]] || libdir="$stage$libdir"
  [[ -f "$plugindir/mmcls.so" ]] && echo "ok   in-tree plugins installed in plugindir" ||
    { echo "FAIL: no mmcls.so in $plugindir"; fail=$((fail + 1)); }
  # The one-line build a Makefile would run.
  check "cc one-liner against mm.pc" sh -c \
    "cc -std=c11 -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
       '$ext_src/ext.c' \$(pkg-config --cflags --libs mm) -o '$tmp/ext.so'"
  check "meson setup against mm.pc" meson setup "$tmp/ext-build2" "$ext_src"
  check "ninja builds ext.so (installed SDK)" ninja -C "$tmp/ext-build2"
  inst_mm=$(find "$stage" -path '*/bin/mm' -type f | head -n 1)
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export MM_PLUGIN_PATH="$plugindir"
  check "installed mm installs the one-liner's ext.so" "$inst_mm" plugin install "$tmp/ext.so"
  check "installed mm validates the config" "$inst_mm" config validate "$cfg"
fi

echo "$fail failed"
[[ $fail -eq 0 ]]
