#!/usr/bin/env bash
# The README's main job on the real data: the shipped
# configs/mmcls/lenet/lenet5_fashion-mnist.yaml on Debian's Fashion-MNIST
# (tools/bootstrap.sh installs dataset-fashion-mnist), cut to one epoch so
# the suite stays short. One epoch of mmpretrain's recipe reaches 78.17%
# top-1 at seed 0; the check asks for 75%, and for the work dir the README
# promises. Skipped (77) without the dataset.
set -u
: "${MM:?}" "${MM_SOURCE_ROOT:?}"
data=/usr/share/datasets/fashion-mnist
[[ -f $data/train-images-idx3-ubyte.gz ]] || { echo "no $data"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL: $1"; [[ -f "${2:-}" ]] && tail -n 20 "$2"; fail=$((fail + 1)); }

cd "$MM_SOURCE_ROOT" || exit 1
"$MM" run train configs/mmcls/lenet/lenet5_fashion-mnist.yaml \
  train_cfg.max_epochs=1 --work-dir "$tmp/w" >"$tmp/log" 2>&1
code=$?
[[ $code -eq 0 ]] && ok "mm run train exits 0" || bad "mm run train (exit $code)" "$tmp/log"
top1=$(sed -n 's/.*Epoch(val) \[1\]\[79\/79\].*accuracy\/top1: \([0-9.]*\).*/\1/p' "$tmp/log")
python3 -c "import sys; sys.exit(0 if float('${top1:-0}') >= 75 else 1)" &&
  ok "one epoch reaches ${top1}% top-1" || bad "top-1 '${top1}' below 75" "$tmp/log"
grep -q "Epoch(train) \[1\]\[ 50/469\]  lr: 1.0000e-02  eta: " "$tmp/log" &&
  ok "mmengine-style train log lines" || bad "train log line" "$tmp/log"
run=$(ls -d "$tmp"/w/2*/ 2>/dev/null | head -n 1)
ts=$(basename "${run:-none}")
[[ -f $run/$ts.log && -f $run/vis_data/scalars.json && -f $run/config.yaml ]] &&
  ok "log file, scalars.json and config dump" || bad "work dir layout: $(ls -R "$tmp/w")"
[[ -f $tmp/w/epoch_1.safetensors && $(cat "$tmp/w/last_checkpoint") == "$tmp/w/epoch_1.safetensors" ]] &&
  ok "epoch_1 checkpoint and last_checkpoint" || bad "checkpoints: $(ls "$tmp/w")"
"$MM" run test configs/mmcls/lenet/lenet5_fashion-mnist.yaml "$tmp/w/epoch_1.safetensors" \
  --work-dir "$tmp/t" >"$tmp/tlog" 2>&1
grep -q "Epoch(test) \[79/79\].*accuracy/top1: $top1" "$tmp/tlog" &&
  ok "mm run test gives the same $top1%" || bad "mm run test" "$tmp/tlog"

# mm infer on real photos of the test split: 40 images written as PGM
# files, classified with the checkpoint through a grayscale test pipeline.
python3 - "$data" "$tmp/img" <<'PY'
import gzip, os, sys
data, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
imgs = gzip.open(os.path.join(data, "t10k-images-idx3-ubyte.gz")).read()[16:]
labels = gzip.open(os.path.join(data, "t10k-labels-idx1-ubyte.gz")).read()[8:]
with open(os.path.join(out, "labels.txt"), "w") as f:
    for i in range(40):
        name = "%02d.pgm" % i
        with open(os.path.join(out, name), "wb") as g:
            g.write(b"P5 28 28 255\n" + imgs[i * 784:(i + 1) * 784])
        f.write("%s %d\n" % (name, labels[i]))
PY
cat >"$tmp/infer.yaml" <<YAML
_base_: $MM_SOURCE_ROOT/configs/mmcls/lenet/lenet5_fashion-mnist.yaml
test_pipeline:
  - {type: LoadImageFromFile, color_type: grayscale}
  - {type: Resize, scale: [32, 32]}
  - {type: PackInputs}
YAML
"$MM" infer "$tmp/infer.yaml" "$tmp/w/epoch_1.safetensors" "$tmp/img" --topk 3 \
  --out-dir "$tmp/vis" --batch-size 8 >"$tmp/ilog" 2>&1
code=$?
[[ $code -eq 0 ]] && ok "mm infer on 40 images exits 0" || bad "mm infer (exit $code)" "$tmp/ilog"
python3 - "$tmp/vis/predictions.json" "$tmp/img/labels.txt" <<'PY' &&
import json, os, sys
preds = json.load(open(sys.argv[1]))
labels = dict(l.split() for l in open(sys.argv[2]))
right = sum(int(labels[os.path.basename(p["img_path"])]) == p["pred_label"]
            for p in preds)
names = {p.get("pred_class") for p in preds}
print("infer: %d/%d right" % (right, len(preds)))
assert len(preds) == 40 and right >= 26, right
assert all(len(p["topk"]) == 3 and p["topk"][0]["label"] == p["pred_label"]
           for p in preds)
assert "Ankle boot" in names or "Trouser" in names, names
PY
  ok "mm infer: top-1 on 40 real images with class names" ||
  bad "mm infer predictions" "$tmp/ilog"
[[ $(ls "$tmp/vis" | grep -c '\.png$') -eq 40 ]] && grep -q "Ankle boot" "$tmp/ilog" &&
  ok "mm infer writes 40 labelled images and prints class names" ||
  bad "mm infer outputs: $(ls "$tmp/vis" | head -3)" "$tmp/ilog"

echo "$fail failed"
[[ $fail -eq 0 ]]
