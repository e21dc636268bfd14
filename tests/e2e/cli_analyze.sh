#!/bin/sh
# End-to-end checks of `mm analyze complexity` and `mm zoo`.
#
# analyze: mm's output on four models must equal, byte for byte, what
# mmengine's get_model_complexity_info prints for the same PyTorch models
# (tests/e2e/complexity/*.expected, written by
# tools/parity/complexity_mmengine.py): mmpretrain's LeNet5 classifier and
# three nets of core layers (convs and batch norms, group/instance norms
# with upsampling and a transposed conv, self-attention with layer norms),
# and ResNet-50 when configs/_base_/models/resnet50.yaml is in the tree.
# zoo: the in-tree metafiles list and show; malformed metafiles in a
# temporary root are one error line naming file:line.
# Usage: cli_analyze.sh MM_BINARY (run from the source root).
set -u
MM=$1
pass=0 fail=0
out=$(mktemp) err=$(mktemp) root=$(mktemp -d)
trap 'rm -rf "$out" "$err" "$root"' EXIT

# expect CODE STDERR_SUBSTRING -- mm args...
expect() {
    want_code=$1 want_err=$2
    shift 3
    "$MM" "$@" >"$out" 2>"$err"
    code=$?
    lines=$(wc -l <"$err")
    if [ "$code" -ne "$want_code" ]; then
        echo "FAIL mm $*: exit $code, want $want_code"; cat "$err"; fail=$((fail + 1)); return
    fi
    if [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$err"; then
        echo "FAIL mm $*: stderr lacks '$want_err':"; cat "$err"; fail=$((fail + 1)); return
    fi
    if [ "$code" -eq 1 ] && [ "$lines" -ne 1 ]; then
        echo "FAIL mm $*: error is $lines lines, want 1:"; cat "$err"; fail=$((fail + 1)); return
    fi
    echo "ok   mm $*"
    pass=$((pass + 1))
}

# same_as FILE: the last command's stdout equals FILE
same_as() {
    if cmp -s "$out" "$1"; then
        echo "ok   output equals $1"; pass=$((pass + 1))
    else
        echo "FAIL output differs from $1:"; diff "$out" "$1"; fail=$((fail + 1))
    fi
}

# row WORDS...: the last command's stdout has a line of these words
# separated by any run of spaces (column widths follow the longest name)
row() {
    local re
    re="^$(printf '%s' "$*" | sed 's/[.[\*^$/]/\\&/g; s/ /  */g')\$"
    if grep -qE -- "$re" "$out"; then
        echo "ok   output has the row '$*'"; pass=$((pass + 1))
    else
        echo "FAIL output lacks the row '$*':"; cat "$out"; fail=$((fail + 1))
    fi
}

# contains TEXT: the last command's stdout has TEXT
contains() {
    if grep -qF -- "$1" "$out"; then
        echo "ok   output has '$1'"; pass=$((pass + 1))
    else
        echo "FAIL output lacks '$1':"; cat "$out"; fail=$((fail + 1))
    fi
}

C=tests/e2e/complexity
expect 0 "" -- analyze --help
expect 2 "complexity needs a CONFIG" -- analyze complexity
expect 2 "unknown subcommand 'flops'" -- analyze flops $C/convnet.yaml
expect 2 "--shape needs one or two positive sizes" -- analyze complexity $C/convnet.yaml --shape 0
expect 1 "nope.yaml" -- analyze complexity $C/nope.yaml
expect 0 "" -- analyze complexity configs/mmcls/lenet/lenet5_mnist.yaml --shape 32
same_as $C/lenet.expected
expect 0 "" -- analyze complexity $C/convnet.yaml --shape 16 16
same_as $C/convnet.expected
expect 0 "" -- analyze complexity $C/norms.yaml --shape 16
same_as $C/norms.expected
expect 0 "" -- analyze complexity $C/attention.yaml --shape 8 --channels 4
same_as $C/attention.expected

# ResNet-50 once the ResNet backbone and its model base are in the tree
R50=configs/_base_/models/resnet50.yaml
if [ -f "$R50" ]; then
    printf '_base_: [%s/%s]\ndefault_scope: mmcls\n' "$PWD" "$R50" >"$root/resnet50.yaml"
    expect 0 "" -- analyze complexity "$root/resnet50.yaml"
    same_as $C/resnet50.expected
    rm "$root/resnet50.yaml"
else
    echo "skip ResNet-50 ($R50 is not in the tree)"
fi

expect 0 "" -- zoo --help
expect 2 "show needs a model NAME" -- zoo show
expect 0 "" -- zoo list
row lenet5_mnist LeNet 61.706K 0.417M configs/mmcls/lenet/lenet5_mnist.yaml
expect 0 "" -- zoo list --scope mmcls --task "image class"
contains "lenet5_fashion-mnist_adam-10e"
expect 0 "" -- zoo list --scope mmnothing
contains "0 models"
expect 0 "" -- zoo show lenet5_mnist
contains "Config: configs/mmcls/lenet/lenet5_mnist.yaml"
contains "Metafile: configs/mmcls/lenet/metafile.yaml:"
expect 1 "zoo: no model named 'resnet0'" -- zoo show resnet0
expect 1 "no configs/ directory" -- zoo list --root "$root"

# malformed metafiles, one at a time, in a temporary root
mkdir -p "$root/configs/mmx/algo" "$root/configs/mmx/other"
: >"$root/configs/mmx/algo/a.yaml"
M=$root/configs/mmx/algo/metafile.yaml
printf 'Models:\n  - Name: a\n    Config: [unclosed\n' >"$M"
expect 1 "metafile.yaml:" -- zoo list --root "$root"
printf 'Models:\n  - Name: a\n    Config: configs/mmx/algo/missing.yaml\n' >"$M"
expect 1 "metafile.yaml:3:13: Models.0 (a): Config 'configs/mmx/algo/missing.yaml' does not exist" \
    -- zoo list --root "$root"
printf 'Collections:\n  - Name: A\nModels:\n  - Name: a\n    In Collection: B\n    Config: configs/mmx/algo/a.yaml\n' >"$M"
expect 1 "metafile.yaml:5:20: Models.0 (a): In Collection names no collection of this metafile" \
    -- zoo list --root "$root"
printf 'Models:\n  - Name: a\n    Metadata: {FLOPs: many}\n    Config: configs/mmx/algo/a.yaml\n' >"$M"
expect 1 "metafile.yaml:3:23: Models.0 (a): Metadata.FLOPs: expected a number" \
    -- zoo show a --root "$root"
printf 'Models:\n  - Name: a\n    Config: configs/mmx/algo/a.yaml\n' >"$M"
cp "$M" "$root/configs/mmx/other/metafile.yaml"
expect 1 "other/metafile.yaml:2:11: model 'a' is also defined at" -- zoo list --root "$root"
rm "$root/configs/mmx/other/metafile.yaml"
expect 0 "" -- zoo list --root "$root"
contains "a     -                    -          -  configs/mmx/algo/a.yaml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
