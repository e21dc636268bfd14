#!/bin/sh
# End-to-end checks of `mm config` and the CLI conventions: exit codes
# (0 ok, 1 failure, 2 usage), one-line errors on stderr, nothing on stdout
# when failing. Usage: cli_config.sh MM_BINARY (run from the source root).
set -u
MM=$1
pass=0 fail=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

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

F=tests/fixtures/config
LENET=configs/mmcls/lenet/lenet5_fashion-mnist.yaml
ADAM=configs/mmcls/lenet/lenet5_fashion-mnist_adam-10e.yaml

expect 0 "" -- --version
expect 0 "" -- --help
expect 0 "" -- config --help
expect 2 "unknown command 'fly'" -- fly
expect 2 "" -- config
expect 2 "unknown subcommand 'show'" -- config show $LENET
expect 2 "--format takes 'yaml' or 'json'" -- config print $LENET --format xml
expect 2 "unknown log level 'LOUD'" -- --log-level LOUD config print $LENET
expect 0 "" -- --log-level debug config print configs/_base_/default_runtime.yaml
expect 0 "" -- config print $ADAM train_dataloader.batch_size=64 --format json
grep -q '"batch_size": 64' "$out" && grep -q '"max_epochs": 10' "$out" \
    && grep -q '"end": 10' "$out" \
    || { echo "FAIL: 3-level print lacks the override or the reference"; fail=$((fail + 1)); }
expect 0 "" -- config validate $F/core_pipeline.yaml
grep -q ": ok" "$out" || { echo "FAIL: validate did not say ok"; fail=$((fail + 1)); }
# Validation checks components against the registry: the LeNet config's
# model, datasets, transforms, optimizer, schedulers, hooks and visualizer
# validate; a misspelt hook parameter is named at its line.
expect 0 "" -- config validate $ADAM
expect 1 "default_hooks.checkpoint: mm.CheckpointHook has no parameter 'max_keep_ckpt' (did you mean 'max_keep_ckpts'?)" \
    -- config validate $ADAM default_hooks.checkpoint.max_keep_ckpt=1
expect 0 "" -- config validate $F/mmcls_lenet.yaml
expect 1 "model.head.loss: mmcls.CrossEntropyLoss has no parameter 'use_sigmid' (did you mean 'use_sigmoid'?)" \
    -- config validate $F/mmcls_lenet.yaml model.head.loss.use_sigmid=true
expect 1 "train_dataloader.dataset: mmcls.MNIST has no parameter 'dowload' (did you mean 'download'?)" \
    -- config validate $F/mmcls_lenet.yaml train_dataloader.dataset.dowload=false

expect 1 "<command line>:1:1: train_pipeline.0: mm.Compose has no parameter 'transform' (did you mean 'transforms'?)" \
    -- config validate $F/core_pipeline.yaml train_pipeline.0.transform=[]
expect 0 "" -- config diff $LENET $ADAM
grep -qF '~ train_cfg.max_epochs: 5 -> 10' "$out" \
    || { echo "FAIL: diff lacks max_epochs"; cat "$out"; fail=$((fail + 1)); }

# Every listed error prints one line with its location and exits 1.
expect 1 "malformed.yaml:3:2: YAML syntax error" -- config print $F/malformed.yaml
expect 1 "cannot open '$F/nope.yaml'" -- config print $F/nope.yaml
expect 1 "is a directory" -- config print $F
expect 1 "toplevel_list.yaml:1:1: a config must be a mapping" -- config print $F/toplevel_list.yaml
expect 1 "ref_unknown.yaml:3:8: depth: unknown reference" -- config print $F/ref_unknown.yaml
expect 1 "reference cycle: a -> b -> c.x -> a" -- config print $F/ref_cycle.yaml
expect 1 "_base_ cycle: cycle_a.yaml -> cycle_b.yaml -> cycle_a.yaml" -- config print $F/cycle_a.yaml
expect 1 "defined in both base 'sib_a.yaml' and base 'sib_c.yaml'" -- config print $F/dup_siblings.yaml
expect 1 "add '_delete_: true' to replace it" -- config print $F/dict_over_scalar.yaml
expect 1 "<command line>:1:1: override 'pipeline.9.size=1': index 9 is past the end" \
    -- config print $F/child.yaml pipeline.9.size=1
expect 1 "no loaded plugin ships configs for scope 'mmfake'" -- config validate $F/scope_base.yaml
expect 1 "type: must be a non-empty component name" -- config validate $F/child.yaml model.type=3

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
