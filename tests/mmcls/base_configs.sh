#!/usr/bin/env bash
# The dataset and schedule bases translated from mmpretrain
# (configs/_base_/datasets/{imagenet_*,cifar*}.yaml,
# configs/_base_/schedules/*.yaml) pass `mm config validate` under
# default_scope mmcls, each with the others it needs (RandAugment and
# AutoAugment included).
# (tools/parity/configs_mmpretrain.py compares their values with
# mmpretrain's own files.)
set -u
: "${MM:?}" "${MM_SOURCE_ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
base="$MM_SOURCE_ROOT/configs/_base_"
check() { # name dataset schedule
  local cfg="$tmp/$1.yaml"
  printf '_base_: [%s, %s, %s]\ndefault_scope: mmcls\n' \
    "$base/datasets/$2.yaml" "$base/schedules/$3.yaml" \
    "$base/default_runtime.yaml" >"$cfg"
  if "$MM" config validate "$cfg" >"$tmp/out" 2>&1; then
    echo "ok   $1"
  else
    echo "FAIL: $1"; cat "$tmp/out"; fail=$((fail + 1))
  fi
}
for d in imagenet_bs32 imagenet_bs64 imagenet_bs64_swin_224 imagenet_bs128_mbv3 \
         imagenet_bs32_pil_resize imagenet_bs64_autoaug imagenet_bs64_pil_resize \
         imagenet_bs32_pil_bicubic imagenet_bs64_pil_resize_autoaug \
         imagenet_bs64_swin_384 imagenet_bs64_swin_256; do
  check "$d" "$d" imagenet_bs256
done
check cifar10_bs16 cifar10_bs16 cifar10_bs128
check cifar100_bs16 cifar100_bs16 cifar10_bs128
for s in imagenet_bs256_140e imagenet_bs256_epochstep imagenet_bs256_coslr \
         imagenet_bs1024_adamw_swin imagenet_bs2048 imagenet_bs4096_AdamW \
         imagenet_bs1024_coslr; do
  check "$s" imagenet_bs64 "$s"
done
[[ $fail -eq 0 ]] && echo "all passed" || echo "$fail failed"
exit $((fail > 0))
