#!/usr/bin/env bash
# PyTorch .pth files through the CLI and the runner:
# - `mm checkpoint info` on .pth fixtures, `maps` (the key map of the test
#   plugin iotest, found on MM_PLUGIN_PATH without being loaded by name),
#   `convert` (bare, --prefix, --map) and its one-line refusals;
# - with Debian's torch (/usr/bin/python3; skipped without it): LeNet-5
#   checkpoints written by torch.save, then `mm run train` with lr 0 on a
#   small generated MNIST, so the saved epoch_1 weights are exactly what the
#   model started from: init_cfg {type: Pretrained, prefix: backbone} on the
#   backbone of an mmengine-style checkpoint, init_cfg with a key map on the
#   whole model, load_from of a bare state dict; compared value by value
#   with torch.load's tensors.
# Usage (from the source root): MM=... IOTEST_DIR=... pth_cli.sh
set -u
: "${MM:?}" "${IOTEST_DIR:?}" "${MM_SOURCE_ROOT:?}"
FX="$MM_SOURCE_ROOT/tests/fixtures/checkpoint/pth"
TORCH_PY=${TORCH_PY:-/usr/bin/python3}
export MM_PLUGIN_PATH="$IOTEST_DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [[ -f "${2:-}" ]] && cat "$2"; fail=$((fail + 1)); }
out=$tmp/out err=$tmp/err

# expect CODE STDERR_SUBSTRING -- mm args...: exit code, and for failures
# exactly one stderr line and nothing on stdout.
expect() {
    local want_code=$1 want_err=$2
    shift 3
    "$MM" "$@" >"$out" 2>"$err"
    local code=$?
    if [[ $code -ne $want_code ]]; then
        bad "mm $*: exit $code, want $want_code" "$err"; return
    fi
    if [[ -n "$want_err" ]] && ! grep -qF -- "$want_err" "$err"; then
        bad "mm $*: stderr lacks '$want_err'" "$err"; return
    fi
    if [[ $code -eq 1 ]] && { [[ $(wc -l <"$err") -ne 1 ]] || [[ -s "$out" ]]; }; then
        bad "mm $*: not one error line" "$err"; return
    fi
    ok "mm $*"
}
has() { grep -qxF -- "$1" "$out" && ok "output has '$1'" || bad "output lacks '$1'" "$out"; }

# ---- info, maps, convert on the committed fixtures ------------------------
expect 0 "" -- checkpoint info -v "$FX/mmengine.pth"
has "meta: epoch: 1"
has "metadata keys: meta message_hub optimizer param_schedulers"
has "  state_dict.1.num_batches_tracked   I64  []"
expect 1 "refused pickle global 'posix.system'" -- checkpoint info "$FX/evil_system.pth"
expect 1 "legacy torch format; re-save with torch>=1.6" -- checkpoint info "$FX/legacy.pth"
[[ ! -e mm_pth_pwned ]] && ok "no marker file" || bad "the hostile pickle ran"

expect 0 "" -- checkpoint maps
grep -qE '^iotest\.lenet +a tutorial LeNet' "$out" && ok "maps lists iotest.lenet" || bad "maps" "$out"

expect 0 "" -- checkpoint convert "$FX/mmengine.pth" "$tmp/m.safetensors"
has "$tmp/m.safetensors: 7 tensors from $FX/mmengine.pth"
expect 0 "" -- checkpoint info -v "$tmp/m.safetensors"
has "  state_dict.0.weight               F32  [2, 1, 3, 3]"
has "meta: mm_version: 0.1.0"
expect 0 "" -- checkpoint convert "$FX/nested.pth" "$tmp/n.safetensors" --prefix optimizer.state
expect 0 "" -- checkpoint info -v "$tmp/n.safetensors"
has "  state_dict.0.momentum_buffer  F32  [4]"
expect 1 "no weights under prefix 'head.'" -- checkpoint convert "$FX/mmengine.pth" "$tmp/x.safetensors" --prefix head
expect 1 "no key map 'nope' (registered: " -- checkpoint convert "$FX/mmengine.pth" "$tmp/x.safetensors" --map nope
expect 1 "key map iotest.lenet: unknown key '0.weight'" -- checkpoint convert "$FX/mmengine.pth" "$tmp/x.safetensors" --map iotest.lenet
expect 2 "convert writes safetensors" -- checkpoint convert "$FX/mmengine.pth" "$tmp/x.pth"
expect 2 "convert needs IN and OUT" -- checkpoint convert "$FX/mmengine.pth"
expect 2 "--map needs a value" -- checkpoint convert a b --map
expect 2 "--map and --prefix belong to convert" -- checkpoint info "$FX/mmengine.pth" --map x
[[ ! -e "$tmp/x.safetensors" ]] && ok "failed converts write nothing" || bad "a failed convert wrote a file"

# ---- the runner, with torch -------------------------------------------------
if ! "$TORCH_PY" -c "import torch" 2>/dev/null; then
    echo "skip the runner checks: $TORCH_PY cannot import torch"
    echo "$pass passed, $fail failed"
    [[ $fail -eq 0 ]]
    exit
fi
base_cfg="$MM_SOURCE_ROOT/configs/mmcls/lenet/lenet5_mnist.yaml"
"$TORCH_PY" - "$tmp" <<'PY' || { bad "writing the torch files"; exit 1; }
import collections, os, random, struct, sys
import numpy as np
import torch
tmp = sys.argv[1]
g = torch.Generator().manual_seed(0)
shapes = collections.OrderedDict([
    ("features.0.weight", (6, 1, 5, 5)), ("features.0.bias", (6,)),
    ("features.3.weight", (16, 6, 5, 5)), ("features.3.bias", (16,)),
    ("features.6.weight", (120, 16, 5, 5)), ("features.6.bias", (120,)),
    ("classifier.0.weight", (84, 120)), ("classifier.0.bias", (84,)),
    ("classifier.2.weight", (10, 84)), ("classifier.2.bias", (10,))])
def rand(shape):
    return torch.rand(shape, generator=g) * 0.2 - 0.1
# mmengine style: backbone.* and a head of another model, meta with numpy
sd = collections.OrderedDict(("backbone." + k, rand(s)) for k, s in shapes.items())
sd["head.fc.weight"] = rand((10, 84))
torch.save({"meta": {"epoch": 3, "np": np.float32(0.5)}, "state_dict": sd},
           f"{tmp}/mme.pth")
# a tutorial LeNet's names, for the key map iotest.lenet
tut = collections.OrderedDict()
for (k, s), name in zip(shapes.items(), ["conv1.weight", "conv1.bias",
        "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias",
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]):
    tut[name] = rand(s)
torch.save(tut, f"{tmp}/tut.pth")
# a bare state dict with the model's names (load_from), as a
# DataParallel module would save it
torch.save(collections.OrderedDict(("module.backbone." + k, rand(s))
                                   for k, s in shapes.items()), f"{tmp}/bare.pth")
# a small MNIST
os.makedirs(f"{tmp}/data")
rng = random.Random(0)
for split, n in (("train", 32), ("t10k", 16)):
    imgs = bytes(rng.randrange(256) for _ in range(n * 784))
    with open(f"{tmp}/data/{split}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + imgs)
    with open(f"{tmp}/data/{split}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY

# train for one epoch with lr 0: epoch_1 holds the initial weights
train() { # NAME EXTRA_YAML
    local cfg="$tmp/$1.yaml"
    cat >"$cfg" <<YAML
_base_: $base_cfg
train_dataloader: {batch_size: 16, num_workers: 0, dataset: {data_root: $tmp/data}}
val_dataloader: {batch_size: 16, num_workers: 0, dataset: {data_root: $tmp/data}}
optim_wrapper: {optimizer: {lr: 0.0, momentum: 0.0, weight_decay: 0.0}}
train_cfg: {max_epochs: 1, val_interval: 10}
default_hooks: {checkpoint: {interval: 1}}
$2
YAML
    if "$MM" run train "$cfg" --work-dir "$tmp/w_$1" >"$tmp/$1.log" 2>&1 &&
        [[ -f "$tmp/w_$1/epoch_1.safetensors" ]]; then
        ok "mm run train ($1)"
    else
        bad "mm run train ($1)" "$tmp/$1.log"
    fi
}

# compare SAFETENSORS SRC.pth MAPPING: every state_dict.<mm name> of the
# mm checkpoint equals SRC's tensor (MAPPING: python dict expression from mm
# name to the name in SRC's weights)
compare() {
    "$TORCH_PY" - "$@" <<'PY'
import json, struct, sys
import torch
st, src, mapping = sys.argv[1], sys.argv[2], eval(sys.argv[3])
ck = torch.load(src)
w = ck.get("state_dict", ck)
b = open(st, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
bad = 0
for mm_name, src_name in mapping.items():
    e = h["state_dict." + mm_name]
    lo, hi = e["data_offsets"]
    t = torch.frombuffer(bytearray(b[8 + n + lo:8 + n + hi]), dtype=torch.float32).reshape(e["shape"])
    if not torch.equal(t, w[src_name]):
        print("differs:", mm_name, src_name); bad += 1
sys.exit(1 if bad else 0)
PY
}
names="['features.0.weight','features.0.bias','features.3.weight','features.3.bias','features.6.weight','features.6.bias','classifier.0.weight','classifier.0.bias','classifier.2.weight','classifier.2.bias']"

train prefix "model: {backbone: {init_cfg: {type: Pretrained, checkpoint: $tmp/mme.pth, prefix: backbone}}}"
grep -q "load backbone in model from: $tmp/mme.pth" "$tmp/prefix.log" && ok "Pretrained logs what it loads" || bad "no load line" "$tmp/prefix.log"
compare "$tmp/w_prefix/epoch_1.safetensors" "$tmp/mme.pth" "{'backbone.'+k: 'backbone.'+k for k in $names}" &&
    ok "init_cfg Pretrained with prefix: backbone weights equal torch's" || bad "prefix weights"

tut="['conv1.weight','conv1.bias','conv2.weight','conv2.bias','conv3.weight','conv3.bias','fc1.weight','fc1.bias','fc2.weight','fc2.bias']"
train map "model: {init_cfg: {type: Pretrained, checkpoint: $tmp/tut.pth, map: iotest.lenet}}"
compare "$tmp/w_map/epoch_1.safetensors" "$tmp/tut.pth" "dict(zip(['backbone.'+k for k in $names], $tut))" &&
    ok "init_cfg Pretrained with a key map: weights equal torch's" || bad "map weights"

train load_from "load_from: $tmp/bare.pth"
compare "$tmp/w_load_from/epoch_1.safetensors" "$tmp/bare.pth" "{'backbone.'+k: 'module.backbone.'+k for k in $names}" &&
    ok "load_from a bare .pth state dict (module. dropped)" || bad "load_from weights"

# A wrong prefix stops the run with one line naming the config key.
cat >"$tmp/badprefix.yaml" <<YAML
_base_: $tmp/prefix.yaml
model: {backbone: {init_cfg: {type: Pretrained, checkpoint: $tmp/mme.pth, prefix: neck}}}
YAML
"$MM" run train "$tmp/badprefix.yaml" --work-dir "$tmp/w_bad" >"$out" 2>"$err"
[[ $? -eq 1 ]] && grep -q "model.backbone.init_cfg (Pretrained): checkpoint: no weights under prefix 'neck.'" "$err" &&
    ok "a prefix the checkpoint lacks is one error" || bad "bad prefix" "$err"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
