#!/usr/bin/env bash
# `mm run train` and `mm run test` end to end on a small generated MNIST
# (idx files written here: 320 training and 80 test images of ten easy
# classes) with the repository's LeNet-5 config: logs, scalars.json, the
# config dump, checkpoints, last_checkpoint, test accuracy equal to the last
# validation, --out predictions, Ctrl-C then --resume (SIGINT raised by the
# rtest plugin's RecordHook at a chosen iteration, through the CLI's
# handler), a corrupt checkpoint and a missing data path refused in one
# line. Needs python3 (to write the idx files) and the mmcls plugin.
set -u
: "${MM:?}" "${MM_SOURCE_ROOT:?}" "${MM_BUILD_ROOT:?}"
base_cfg="$MM_SOURCE_ROOT/configs/mmcls/lenet/lenet5_mnist.yaml"
[[ -f "$base_cfg" ]] || { echo "no $base_cfg"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL: $1"; [[ -f "${2:-}" ]] && cat "$2"; fail=$((fail + 1)); }

# Ten classes: class c is a bright 6x6 square at a spot of its own, with
# noise; LeNet-5 learns it within two short epochs.
python3 - "$tmp/data" <<'PY'
import os, random, struct, sys
root = sys.argv[1]
os.makedirs(root)
rng = random.Random(0)
def write(split, n):
    imgs, labels = bytearray(), bytearray()
    for i in range(n):
        c = i % 10
        y0, x0 = 2 + 8 * (c // 4), 2 + 7 * (c % 4)
        for y in range(28):
            for x in range(28):
                v = rng.randrange(40)
                if y0 <= y < y0 + 6 and x0 <= x < x0 + 6:
                    v = 200 + rng.randrange(56)
                imgs.append(v)
        labels.append(c)
    with open(f'{root}/{split}-images-idx3-ubyte', 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, n, 28, 28) + imgs)
    with open(f'{root}/{split}-labels-idx1-ubyte', 'wb') as f:
        f.write(struct.pack('>II', 0x801, n) + labels)
write('train', 320)
write('t10k', 80)
PY

cfg="$tmp/lenet_small.yaml"
cat >"$cfg" <<YAML
_base_: $base_cfg
train_dataloader:
  batch_size: 32
  num_workers: 1
  dataset: {data_root: $tmp/data}
val_dataloader:
  batch_size: 16
  num_workers: 1
  dataset: {data_root: $tmp/data}
train_cfg: {max_epochs: 2}
default_hooks:
  logger: {type: LoggerHook, interval: 5}
  checkpoint: {type: CheckpointHook, interval: 1, max_keep_ckpts: 3, save_best: auto}
randomness: {seed: 0, deterministic: true}
YAML

# --help and usage errors.
"$MM" run train --help | grep -q "usage: mm run train CONFIG" && ok "run train --help" || bad "run train --help"
"$MM" run test --help | grep -q -- "--out FILE.json" && ok "run test --help" || bad "run test --help"
"$MM" run train "$cfg" --bogus >"$tmp/err" 2>&1
[[ $? -eq 2 ]] && grep -q "unknown option '--bogus'" "$tmp/err" && ok "unknown option exits 2" || bad "unknown option" "$tmp/err"
# The global --log-level wins over the config's log_level (INFO).
"$MM" --log-level WARNING run train "$cfg" --work-dir "$tmp/quiet" train_cfg.max_epochs=1 >"$tmp/out" 2>"$tmp/err"
[[ $? -eq 0 ]] && ! grep -q " - INFO - " "$tmp/err" && ok "--log-level WARNING silences the run's INFO lines" || bad "--log-level" "$tmp/err"
"$MM" run train "$base_cfg" --resume= 2>"$tmp/err"
[[ $? -eq 2 ]] && grep -q "\-\-resume= needs a checkpoint" "$tmp/err" && ok "empty --resume= exits 2" || bad "empty --resume=" "$tmp/err"

# Training.
w="$tmp/work"
if "$MM" run train "$cfg" --work-dir "$w" >"$tmp/train.out" 2>&1; then
  ok "mm run train exits 0"
else
  bad "mm run train" "$tmp/train.out"
fi
logdir=$(find "$w" -mindepth 1 -maxdepth 1 -type d -name '2*_*' | head -n 1)
ts=$(basename "$logdir")
[[ "$ts" =~ ^[0-9]{8}_[0-9]{6}$ ]] && ok "timestamped log dir $ts" || bad "no timestamped log dir in $w"
log="$logdir/$ts.log"
[[ -f "$log" ]] && ok "log file" || bad "no $log"
grep -qE ' - mm - INFO - Epoch\(train\) \[1\]\[ 5/10\]  lr: 1\.0000e-02  eta: [0-9:]+  time: [0-9.]+  data_time: [0-9.]+  memory: [0-9]+  loss: [0-9.]+' "$log" &&
  ok "train log line in mmengine's format" || bad "train log line" "$log"
grep -qE ' - mm - INFO - Epoch\(val\) \[2\]\[5/5\]    accuracy/top1: [0-9.]+  data_time: [0-9.]+  time: [0-9.]+$' "$log" &&
  ok "val log line in mmengine's format" || bad "val log line" "$log"
grep -q "Config:" "$log" && grep -q "System environment:" "$log" && ok "environment and config logged" || bad "env/config not logged" "$log"
[[ $(grep -c '"loss"' "$logdir/vis_data/scalars.json") -eq 4 ]] &&
  grep -q '"step": 10' "$logdir/vis_data/scalars.json" &&
  [[ $(grep -c '"accuracy/top1"' "$logdir/vis_data/scalars.json") -eq 2 ]] &&
  ok "vis_data/scalars.json" || bad "scalars.json" "$logdir/vis_data/scalars.json"
[[ -f "$logdir/config.yaml" && -f "$logdir/vis_data/config.yaml" ]] && grep -q "LeNet5" "$logdir/config.yaml" &&
  ok "config dumped" || bad "config dump"
[[ -f "$w/epoch_1.safetensors" && -f "$w/epoch_2.safetensors" ]] && ok "epoch checkpoints" || bad "epoch checkpoints"
ls "$w"/best_accuracy_top1_epoch_*.safetensors >/dev/null 2>&1 && ok "best checkpoint (save_best: auto)" || bad "no best checkpoint"
[[ "$(cat "$w/last_checkpoint")" == "$w/epoch_2.safetensors" ]] && ok "last_checkpoint" || bad "last_checkpoint: $(cat "$w/last_checkpoint")"
val_acc=$(grep 'Epoch(val) \[2\]' "$log" | tail -n 1 | sed -E 's/.*accuracy\/top1: ([0-9.]+).*/\1/')

# Testing the last checkpoint gives the last validation's accuracy.
if "$MM" run test "$cfg" "$w/epoch_2.safetensors" --work-dir "$tmp/test" \
    --out "$tmp/preds.json" >"$tmp/test.out" 2>&1; then
  ok "mm run test exits 0"
else
  bad "mm run test" "$tmp/test.out"
fi
test_acc=$(grep 'Epoch(test)' "$tmp/test.out" | tail -n 1 | sed -E 's/.*accuracy\/top1: ([0-9.]+).*/\1/')
[[ -n "$val_acc" && "$test_acc" == "$val_acc" ]] && ok "test accuracy $test_acc equals the last val accuracy" ||
  bad "test accuracy '$test_acc' vs val '$val_acc'" "$tmp/test.out"
python3 - "$tmp/preds.json" <<'PY' && ok "--out writes per-sample predictions" || bad "--out predictions" "$tmp/preds.json"
import json, sys
p = json.load(open(sys.argv[1]))
assert len(p) == 80, len(p)
assert sorted(s['sample_idx'] for s in p) == list(range(80))
for s in p:
    assert set(s) == {'sample_idx', 'gt_label', 'pred_label', 'pred_score'}, s.keys()
    assert len(s['pred_score']) == 10
    assert s['pred_label'] == max(range(10), key=lambda k: s['pred_score'][k])
PY

# Ctrl-C after iteration 13 (epoch 2): a checkpoint, one line, exit 130;
# then --resume finishes the run.
w2="$tmp/work_int"
"$MM" --plugin-path "$MM_BUILD_ROOT/tests/runner" run train "$cfg" --work-dir "$w2" \
  'custom_hooks=[{type: rtest.RecordHook, signal_at: 13}]' >"$tmp/int.out" 2>&1
code=$?
[[ $code -eq 130 ]] && ok "Ctrl-C exits 130" || bad "Ctrl-C exit code $code" "$tmp/int.out"
[[ -f "$w2/iter_13.safetensors" && "$(cat "$w2/last_checkpoint")" == "$w2/iter_13.safetensors" ]] &&
  ok "Ctrl-C saves iter_13 and last_checkpoint" || bad "interrupted checkpoint" "$tmp/int.out"
# The hint repeats the overrides (quoted for the shell) so the resumed run
# trains the same config.
grep -qxF "mm: interrupted; resume with: mm run train $cfg 'custom_hooks=[{type: rtest.RecordHook, signal_at: 13}]' --resume --work-dir $w2" "$tmp/int.out" &&
  ok "one line says how to resume, with the overrides" || bad "resume hint" "$tmp/int.out"
if "$MM" run train "$cfg" --work-dir "$w2" --resume >"$tmp/resume.out" 2>&1 &&
  grep -q "resumed epoch: 1, iter: 13" "$tmp/resume.out" && [[ -f "$w2/epoch_2.safetensors" ]]; then
  ok "--resume finishes the interrupted run"
else
  bad "--resume" "$tmp/resume.out"
fi
# A second Ctrl-C stops at once: killed by SIGINT, nothing saved.
w3="$tmp/work_int2"
"$MM" --plugin-path "$MM_BUILD_ROOT/tests/runner" run train "$cfg" --work-dir "$w3" \
  'custom_hooks=[{type: rtest.RecordHook, signal_at: 3, signals: 2}]' >"$tmp/int2.out" 2>&1
code=$?
[[ $code -eq 130 && ! -e "$w3/iter_3.safetensors" ]] && ! grep -q "^mm: interrupted" "$tmp/int2.out" &&
  ok "a second Ctrl-C aborts at once" || bad "second Ctrl-C (exit $code)" "$tmp/int2.out"
# Deterministic: the resumed run ends where the uninterrupted one did.
python3 - "$w/epoch_2.safetensors" "$w2/epoch_2.safetensors" <<'PY' &&
import json, struct, sys
def tensors(path):
    data = open(path, 'rb').read()
    n, = struct.unpack('<Q', data[:8])
    head = json.loads(data[8:8 + n])
    head.pop('__metadata__', None)
    return {k: data[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]
            for k, v in head.items()
            if k.startswith(('state_dict.', 'optimizer.'))}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert len(a) >= 10 and a.keys() == b.keys(), (len(a), a.keys() ^ b.keys())
bad = [k for k in a if a[k] != b[k]]
assert not bad, bad
PY
  ok "interrupted + resumed LeNet weights and optimizer state are bit-identical" ||
  bad "resumed weights differ from the uninterrupted run's"
res_acc=$(grep 'Epoch(val) \[2\]' "$tmp/resume.out" | tail -n 1 | sed -E 's/.*accuracy\/top1: ([0-9.]+).*/\1/')
[[ "$res_acc" == "$val_acc" ]] && ok "resumed run reaches the same accuracy ($res_acc)" || bad "resumed accuracy '$res_acc' vs '$val_acc'"

# A corrupt checkpoint and a missing data path: one line each, exit 1 (the
# log lines before it go to stderr too; the error is the one "mm:" line).
one_error() { [[ $(grep -c '^mm: ' "$1") -eq 1 && $(tail -n 1 "$1") == "mm: "* ]]; }
head -c 200 "$w/epoch_2.safetensors" >"$tmp/bad.safetensors"
"$MM" run test "$cfg" "$tmp/bad.safetensors" --work-dir "$tmp/t2" >"$tmp/out" 2>"$tmp/err"
code=$?
[[ $code -eq 1 ]] && one_error "$tmp/err" && grep -q "^mm: .*bad.safetensors: truncated" "$tmp/err" &&
  ok "corrupt checkpoint refused in one line" || bad "corrupt checkpoint (exit $code)" "$tmp/err"
"$MM" run train "$cfg" --work-dir "$tmp/t3" "train_dataloader.dataset.data_root=$tmp/nope" >"$tmp/out" 2>"$tmp/err"
code=$?
[[ $code -eq 1 ]] && one_error "$tmp/err" &&
  grep -q "^mm: <command line>:1:[0-9]*: train_dataloader.dataset (mmcls.MNIST): data_root: .*nope" "$tmp/err" &&
  ok "missing data path refused in one line" || bad "missing data path (exit $code)" "$tmp/err"
"$MM" run train "$cfg" --work-dir "$tmp/t4" "optim_wrapper.optimizer.lrr=0.1" >"$tmp/out" 2>"$tmp/err"
code=$?
[[ $code -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "lrr" "$tmp/err" && [[ ! -e "$tmp/t4" ]] &&
  ok "config error before anything is built" || bad "config error (exit $code)" "$tmp/err"

"$MM" run train "$cfg" --work-dir "$tmp/t5" "model.backbone.num_classes=0" >"$tmp/out" 2>"$tmp/err"
code=$?
[[ $code -eq 1 ]] && one_error "$tmp/err" &&
  grep -q "^mm: train iteration 1 (epoch 1): model: head: ClsHead: cls_score must be (N, C), got \[32, 120, 1, 1\]; give the model a neck" "$tmp/err" &&
  ok "a model error names the iteration and the module" || bad "model error (exit $code)" "$tmp/err"

echo "$fail failed"
[[ $fail -eq 0 ]]
