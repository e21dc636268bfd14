#!/usr/bin/env bash
# `mm run train` on a CIFAR-10-format dataset cut from real photographs
# (tests/mmcls/make_cls_data.py: four photographs, 400 training crops in the
# python version's pickles, 20 test crops) with the repository's
# cifar10_bs16 dataset base and cifar10_bs128 schedule, and a small
# convolutional net built from core layers (Sequential of Conv2d,
# BatchNorm2d, ReLU, MaxPool2d; GlobalAveragePooling; LinearClsHead):
# one epoch with RandomCrop + RandomFlip, the loss falls, validation and
# test run. Needs /usr/bin/python3 with numpy and PIL and Debian's
# python3-skimage photographs (skipped otherwise).
set -u
: "${MM:?}" "${MM_SOURCE_ROOT:?}"
/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null &&
  [[ -f /usr/lib/python3/dist-packages/skimage/data/chelsea.png ]] ||
  { echo "skipped: needs python3-skimage (numpy, PIL, photographs)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL: $1"; [[ -f "${2:-}" ]] && tail -n 30 "$2"; fail=$((fail + 1)); }

/usr/bin/python3 "$MM_SOURCE_ROOT/tests/mmcls/make_cls_data.py" "$tmp/data" 80 ||
  { echo "FAIL: make_cls_data.py"; exit 1; }

base="$MM_SOURCE_ROOT/configs/_base_"
cfg="$tmp/small_cifar.yaml"
cat >"$cfg" <<YAML
_base_:
  - $base/datasets/cifar10_bs16.yaml
  - $base/schedules/cifar10_bs128.yaml
  - $base/default_runtime.yaml
default_scope: mmcls
model:
  type: ImageClassifier
  backbone:
    type: mm.Sequential
    modules:
      - {type: Conv2d, in_channels: 3, out_channels: 16, kernel_size: 3, padding: 1}
      - {type: BatchNorm2d, num_features: 16}
      - {type: ReLU}
      - {type: MaxPool2d, kernel_size: 2}
      - {type: Conv2d, in_channels: 16, out_channels: 32, kernel_size: 3, padding: 1}
      - {type: BatchNorm2d, num_features: 32}
      - {type: ReLU}
  neck: {type: GlobalAveragePooling}
  head:
    type: LinearClsHead
    num_classes: 10
    in_channels: 32
    loss: {type: CrossEntropyLoss, loss_weight: 1.0}
train_dataloader:
  num_workers: 1
  dataset: {data_root: $tmp/data/cifar10}
val_dataloader:
  num_workers: 1
  dataset: {data_root: $tmp/data/cifar10}
optim_wrapper:
  optimizer: {lr: 0.05}
train_cfg: {max_epochs: 1}
default_hooks:
  logger: {type: LoggerHook, interval: 1}
  checkpoint: {type: CheckpointHook, interval: 1}
randomness: {seed: 0, deterministic: true}
YAML

"$MM" config validate "$cfg" >"$tmp/validate.out" 2>&1 && ok "config validates" || bad "config validate" "$tmp/validate.out"
w="$tmp/work"
if "$MM" run train "$cfg" --work-dir "$w" >"$tmp/train.out" 2>&1; then
  ok "mm run train exits 0"
else
  bad "mm run train" "$tmp/train.out"
fi
log=$(find "$w" -name '2*_*.log' | head -n 1)
[[ -n "$log" ]] && ok "log file" || { bad "no log in $w" "$tmp/train.out"; exit 1; }
# 400 images, batch 16: 25 iterations, a loss each.
n=$(grep -c 'Epoch(train) \[1\]\[[ 0-9]*/25\]' "$log")
[[ $n -eq 25 ]] && ok "25 training iterations logged" || bad "$n training iterations logged" "$log"
python3 - "$log" <<'PY' && ok "the loss falls over the epoch" || bad "the loss does not fall" "$log"
import re, sys
loss = [float(m.group(1)) for m in re.finditer(r'Epoch\(train\).*?  loss: ([0-9.]+)', open(sys.argv[1]).read())]
first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
print('loss: first five %.4f, last five %.4f' % (first, last))
sys.exit(0 if len(loss) == 25 and last < 0.8 * first else 1)
PY
grep -qE 'Epoch\(val\) \[1\]\[2/2\]    accuracy/top1: [0-9.]+' "$log" && ok "validation on the test batch" || bad "no validation line" "$log"
[[ -f "$w/epoch_1.safetensors" ]] && ok "checkpoint" || bad "no epoch_1 checkpoint"
if "$MM" run test "$cfg" "$w/epoch_1.safetensors" --work-dir "$tmp/test" >"$tmp/test.out" 2>&1 &&
  grep -q 'Epoch(test) \[2/2\]' "$tmp/test.out"; then
  ok "mm run test on the CIFAR test batch"
else
  bad "mm run test" "$tmp/test.out"
fi
[[ $fail -eq 0 ]] && echo "all passed" || echo "$fail failed"
exit $((fail > 0))
