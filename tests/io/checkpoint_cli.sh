#!/bin/sh
# A checkpoint written by mm, read by an independent reader (st_read.py,
# Python's json + struct) and by `mm checkpoint info`: output on a real file,
# --verbose, exit codes (0 ok, 1 failure, 2 usage), and a corrupt file giving
# exactly one stderr line and nothing on stdout.
# Usage: checkpoint_cli.sh MM_BINARY CKPT_SAMPLE ST_READ_PY (from the source root).
set -u
MM=$1 SAMPLE=$2 READER=$3
pass=0 fail=0
dir=$(mktemp -d)
out=$dir/out err=$dir/err
trap 'rm -rf "$dir"' EXIT

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# expect CODE STDERR_SUBSTRING -- mm args...
expect() {
    want_code=$1 want_err=$2
    shift 3
    "$MM" "$@" >"$out" 2>"$err"
    code=$?
    lines=$(wc -l <"$err")
    if [ "$code" -ne "$want_code" ]; then
        bad "mm $*: exit $code, want $want_code"; cat "$err"; return
    fi
    if [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$err"; then
        bad "mm $*: stderr lacks '$want_err':"; cat "$err"; return
    fi
    if [ "$code" -eq 1 ] && { [ "$lines" -ne 1 ] || [ -s "$out" ]; }; then
        bad "mm $*: error is $lines lines (want 1) or stdout is not empty:"
        cat "$err" "$out"; return
    fi
    ok "mm $*"
}

# has TEXT: the last stdout holds the line TEXT exactly.
has() {
    if grep -qxF -- "$1" "$out"; then ok "output has '$1'"; else
        bad "output lacks '$1':"; cat "$out"; fi
}

F=$dir/epoch_2.safetensors
"$SAMPLE" "$F" || { echo "FAIL ckpt_sample"; exit 1; }
if [ -x /usr/bin/python3 ]; then
    if /usr/bin/python3 "$READER" "$F"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); fi
else
    echo "skip independent reader: no /usr/bin/python3"
fi

size=$(wc -c <"$F" | tr -d ' ')
expect 0 "" -- checkpoint info "$F"
has "file: $F"
has "tensors: 12 (1498 bytes of data)"
has "meta: epoch: 2"
has "      iter: 3750"
has "      mm_version: 0.1.0"
has "      seed: 1234"
has "      experiment_name: lenet5_fashion-mnist"
has "metadata keys: meta message_hub"
has "  state_dict           10 tensors          874 bytes  F32 F64 F16 BF16 I64 I32 U8 BOOL"
has "  optimizer             1 tensor           600 bytes  F32"
has "  ema_state_dict        1 tensor            24 bytes  F32"
grep -q "^size: $size bytes" "$out" && ok "size line" || bad "size line"
grep -q "head.fc.weight" "$out" && bad "tensors listed without --verbose" \
    || ok "no tensor list without --verbose"
expect 0 "" -- checkpoint info "$F" --verbose
has "  state_dict.head.fc.weight                   F64  [3, 7]"
has "  state_dict.backbone.bn.num_batches_tracked  I64  []"
expect 0 "" -- checkpoint info -v "$F"
expect 0 "" -- checkpoint --help
expect 0 "" -- checkpoint info --help
expect 2 "" -- checkpoint
expect 2 "info needs a FILE" -- checkpoint info
expect 2 "unknown subcommand 'show'" -- checkpoint show "$F"
expect 2 "unknown option '--fast'" -- checkpoint info "$F" --fast
expect 2 "unexpected argument" -- checkpoint info "$F" "$F"

# Corrupt files: one line naming the file, exit 1.
head -c 100 "$F" >"$dir/cut.safetensors"
expect 1 "mm: $dir/cut.safetensors: truncated: the header length is" \
    -- checkpoint info "$dir/cut.safetensors"
head -c $((size - 1)) "$F" >"$dir/short.safetensors"
expect 1 "mm: $dir/short.safetensors: truncated: tensor" \
    -- checkpoint info "$dir/short.safetensors"
cp "$F" "$dir/long.safetensors" && printf 'xx' >>"$dir/long.safetensors"
expect 1 "2 trailing bytes after the last tensor" \
    -- checkpoint info "$dir/long.safetensors"
printf 'not a checkpoint at all' >"$dir/text.safetensors"
expect 1 "is larger than the 100000000 bytes allowed" \
    -- checkpoint info "$dir/text.safetensors"
expect 1 "cannot open: No such file or directory" \
    -- checkpoint info "$dir/absent.safetensors"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
