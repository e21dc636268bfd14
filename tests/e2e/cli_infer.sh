#!/usr/bin/env bash
# `mm infer` on bad input and the class names of a config without
# metainfo: LeNet-5 with its initial weights (`none`), one PGM image. Every
# bad input is refused in one line with exit 1, never a crash. Needs
# python3 (to write the files) and the mmcls plugin.
set -u
: "${MM:?}" "${MM_SOURCE_ROOT:?}"
base_cfg="$MM_SOURCE_ROOT/configs/mmcls/lenet/lenet5_fashion-mnist.yaml"
[[ -f "$base_cfg" ]] || { echo "no $base_cfg"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

cat >"$tmp/infer.yaml" <<YAML
_base_: $base_cfg
test_pipeline:
  - {type: LoadImageFromFile, color_type: grayscale}
  - {type: Resize, scale: [32, 32]}
  - {type: PackInputs}
YAML
mkdir -p "$tmp/img" "$tmp/empty/sub"
python3 - "$tmp" <<'PY'
import json, struct, sys
t = sys.argv[1]
open(t + "/img/a.pgm", "wb").write(b"P5 28 28 255\n" + bytes(range(256)) * 3 + bytes(16))
open(t + "/bad.png", "wb").write(b"\x89PNG\r\n\x1a\n not really")
open(t + "/empty/notes.txt", "w").write("no images here\n")
open(t + "/empty.txt", "w").write("# only a comment\n\n")
open(t + "/list.txt", "w").write("img/a.pgm\nimg/missing.pgm\n")
# another model's weights: LeNet-5's first key with another shape, and
# keys LeNet-5 lacks
def save(path, key):
    hdr = json.dumps({key: {"dtype": "F32", "shape": [2, 2],
                            "data_offsets": [0, 16]}}).encode()
    hdr += b" " * (-len(hdr) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hdr)) + hdr + bytes(16))
save(t + "/shape.safetensors", "backbone.features.0.weight")
save(t + "/other.safetensors", "backbone.conv1.weight")
PY

# expect CODE STDERR_SUBSTRING -- infer args...
expect() {
    local want_code=$1 want_err=$2
    shift 3
    "$MM" infer "$@" >"$tmp/out" 2>"$tmp/err"
    local code=$?
    if [[ $code -ne $want_code ]]; then
        echo "FAIL mm infer $*: exit $code, want $want_code"; cat "$tmp/err"
        fail=$((fail + 1)); return
    fi
    if [[ -n "$want_err" ]] && ! grep -qF -- "$want_err" "$tmp/err"; then
        echo "FAIL mm infer $*: stderr lacks '$want_err':"; cat "$tmp/err"
        fail=$((fail + 1)); return
    fi
    if [[ $code -eq 1 && $(wc -l <"$tmp/err") -ne 1 ]]; then
        echo "FAIL mm infer $*: error is not one line:"; cat "$tmp/err"
        fail=$((fail + 1)); return
    fi
    echo "ok   mm infer $*"
}

cfg="$tmp/infer.yaml"
# the classes come from the dataset type (FashionMNIST), built lazily
expect 0 "" -- "$cfg" none "$tmp/img/a.pgm" --topk 10
grep -qF "Ankle boot (9)" "$tmp/out" && echo "ok   class names from the dataset type" ||
  { echo "FAIL class names: $(cat "$tmp/out")"; fail=$((fail + 1)); }
expect 1 "nope.pgm: no such file or folder" -- "$cfg" none "$tmp/nope.pgm"
expect 1 "no images in this folder" -- "$cfg" none "$tmp/empty"
expect 1 "empty.txt: lists no images" -- "$cfg" none "$tmp/empty.txt"
expect 1 "cannot decode image" -- "$cfg" none "$tmp/bad.png"
expect 1 "img/missing.pgm" -- "$cfg" none "$tmp/list.txt"
expect 1 "shape.safetensors: load_state_dict: size mismatch for 'backbone.features.0.weight'" -- \
  "$cfg" "$tmp/shape.safetensors" "$tmp/img/a.pgm"
expect 1 "other.safetensors: lacks 10 of the model's weights" -- \
  "$cfg" "$tmp/other.safetensors" "$tmp/img/a.pgm"
expect 1 "nope.safetensors" -- "$cfg" "$tmp/nope.safetensors" "$tmp/img/a.pgm"
# config errors name the file and line
cat >"$tmp/nopipe.yaml" <<YAML
default_scope: mmcls
model:
  type: ImageClassifier
  backbone: {type: LeNet5, num_classes: 10}
  head: {type: ClsHead}
YAML
expect 1 "nopipe.yaml:1:1: the config has no test pipeline" -- \
  "$tmp/nopipe.yaml" none "$tmp/img/a.pgm"
cat "$tmp/nopipe.yaml" >"$tmp/dictpipe.yaml"
echo "test_pipeline: {type: PackInputs}" >>"$tmp/dictpipe.yaml"
expect 1 "dictpipe.yaml:6:16: test_pipeline: expected a list of transforms" -- \
  "$tmp/dictpipe.yaml" none "$tmp/img/a.pgm"
[[ $fail -eq 0 ]] || exit 1
