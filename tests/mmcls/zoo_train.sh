#!/usr/bin/env bash
# Every backbone of the zoo trains: `mm run train` on each family's shipped
# config (its model, as built from the repository's configs) on a small
# real-image dataset, and the loss falls. The data are 12 crops of Debian's
# python3-skimage photographs in class folders (tests/mmcls/make_cls_data.py,
# five classes: the photographs); each model runs 12 iterations of batch 4
# (four passes over the data) from its own initialisation, with the
# head cut to five classes and the input size each family allows, and the
# mean loss of the last three iterations must be below 85% of the first
# three's. Skipped (77) without python3-skimage.
#
#   MM_ZOO_TRAIN_ONLY=resnet18,vit  runs only those cases.
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

/usr/bin/python3 "$MM_SOURCE_ROOT/tests/mmcls/make_cls_data.py" "$tmp/data" 24 \
  >/dev/null || { echo "FAIL: make_cls_data.py"; exit 1; }
data="$tmp/data/folders/train"
cfgs="$MM_SOURCE_ROOT/configs/mmcls"

# case NAME CONFIG SIZE OPTIMIZER MODEL_YAML [HOOKS_YAML]: MODEL_YAML
# (indented under `model:`) adapts the model to five classes and the input
# size; HOOKS_YAML replaces the config's custom_hooks (default: none).
case_() {
  local name=$1 config=$2 size=$3 optim=$4 model=$5
  local hooks=${6:-'custom_hooks: []'}
  if [[ -n ${MM_ZOO_TRAIN_ONLY:-} && ",$MM_ZOO_TRAIN_ONLY," != *",$name,"* ]]; then
    return
  fi
  local cfg="$tmp/$name.yaml"
  cat >"$cfg" <<YAML
_base_: $cfgs/$config
model:
$model
train_dataloader:
  _delete_: true
  batch_size: 4
  num_workers: 0
  sampler: {type: DefaultSampler, shuffle: true}
  dataset:
    type: CustomDataset
    data_root: $data
    indices: 12
    pipeline:
      - {type: LoadImageFromFile}
      - {type: Resize, scale: [$size, $size]}
      - {type: PackInputs}
train_cfg: {_delete_: true, type: IterBasedTrainLoop, max_iters: 12}
val_dataloader: null
val_cfg: null
val_evaluator: null
test_dataloader: null
test_cfg: null
test_evaluator: null
optim_wrapper: {_delete_: true, optimizer: $optim}
param_scheduler: []
$hooks
log_processor: {by_epoch: false}
default_hooks:
  logger: {type: LoggerHook, interval: 1}
  checkpoint: null
randomness: {seed: 0}
YAML
  if ! "$MM" run train "$cfg" --work-dir "$tmp/w_$name" >"$tmp/$name.log" 2>&1; then
    bad "$name: mm run train failed" "$tmp/$name.log"
    return
  fi
  local losses
  losses=$(sed -n 's/.*Iter(train) \[ *[0-9]*\/12\].*  loss: \([0-9.]*\).*/\1/p' \
    "$tmp/$name.log" | tr '\n' ' ')
  if python3 - "$name" $losses <<'PY'
import sys
name, l = sys.argv[1], [float(v) for v in sys.argv[2:]]
first, last = sum(l[:3]) / 3, sum(l[-3:]) / 3
print("  %s: loss %.3f -> %.3f over %d iterations" % (name, first, last, len(l)))
sys.exit(0 if len(l) == 12 and last < 0.85 * first else 1)
PY
  then ok "$name: the loss falls"
  else bad "$name: the loss does not fall ($losses)" "$tmp/$name.log"
  fi
  # RegNet keeps its PreciseBNHook: IterBasedTrainLoop, interval 1
  if [[ $name == regnet ]]; then
    local n
    n=$(grep -c 'Finish Precise BN, BN stats updated' "$tmp/$name.log")
    if [[ $n == 12 ]]; then ok "$name: PreciseBNHook ran after each iteration"
    else bad "$name: PreciseBNHook ran $n times, not 12" "$tmp/$name.log"
    fi
  fi
}

sgd='{type: SGD, lr: 0.01, momentum: 0.9}'
adamw='{type: AdamW, lr: 0.0001, weight_decay: 0.05}'
head5='  head: {num_classes: 5}'
head5_pre="$head5
  data_preprocessor: {num_classes: 5}
  train_cfg: null"

case_ resnet18 resnet/resnet18_8xb32_in1k.yaml 64 "$sgd" "$head5"
case_ resnet18_cifar resnet/resnet18_8xb16_cifar10.yaml 32 "$sgd" "$head5"
case_ resnetv1d50 resnet/resnetv1d50_8xb32_in1k.yaml 64 "$sgd" "$head5"
case_ resnext50 resnext/resnext50-32x4d_8xb32_in1k.yaml 64 "$sgd" "$head5"
case_ seresnet50 seresnet/seresnet50_8xb32_in1k.yaml 64 "$sgd" "$head5"
case_ vgg11bn vgg/vgg11bn_8xb32_in1k.yaml 224 '{type: SGD, lr: 0.001, momentum: 0.9}' \
  "  backbone: {num_classes: 5}"
case_ mobilenet_v2 mobilenet_v2/mobilenet-v2_8xb32_in1k.yaml 64 "$sgd" "$head5"
case_ mobilenet_v3_small mobilenet_v3/mobilenet-v3-small_8xb128_in1k.yaml 64 "$sgd" "$head5"
case_ shufflenet_v2 shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.yaml 64 \
  '{type: AdamW, lr: 0.001, weight_decay: 0.0}' "$head5"
case_ regnet regnet/regnetx-400mf_8xb128_in1k.yaml 64 "$sgd" "$head5_pre" \
  '# custom_hooks: the config'"'"'s PreciseBNHook'
case_ efficientnet_b0 efficientnet/efficientnet-b0_8xb32_in1k.yaml 64 "$sgd" "$head5_pre"
case_ convnext_tiny convnext/convnext-tiny_32xb128_in1k.yaml 64 \
  '{type: AdamW, lr: 0.0001, weight_decay: 0.05}' \
  "  backbone: {drop_path_rate: 0.0}
  init_cfg: null
$head5_pre"
case_ vit vision_transformer/vit-base-p16_64xb64_in1k.yaml 64 "$adamw" \
  "  backbone: {img_size: 64, drop_path_rate: 0.0}
$head5_pre"
case_ swin_tiny swin_transformer/swin-tiny_16xb64_in1k.yaml 224 "$adamw" \
  "  backbone: {drop_path_rate: 0.0}
$head5_pre"

echo "$fail failed"
[[ $fail -eq 0 ]]
