#!/usr/bin/env bash
# `mm plugin` end to end: list, info, the install/list/info/remove round trip
# in a temporary XDG_DATA_HOME, every refusal as one line with mm alive, and
# a world-writable plugin directory skipped.
set -u
: "${MM:?}" "${MM_TEST_PLUGINDIR:?}" "${MM_TEST_BROKENDIR:?}"
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/xdg"
unset MM_PLUGIN_PATH
out="$tmp/out" err="$tmp/err"
fail=0

# expect CODE TEXT -- ARGS...: exit code CODE, and TEXT in stdout+stderr.
expect() {
  local code="$1" text="$2"
  shift 3
  "$MM" "$@" >"$out" 2>"$err"
  local rc=$?
  if [[ $rc -ne $code ]]; then
    echo "FAIL: mm $* exited $rc, want $code"; cat "$out" "$err"; fail=$((fail + 1))
  elif [[ -n "$text" ]] && ! grep -qF -- "$text" "$out" "$err"; then
    echo "FAIL: mm $*: no '$text' in output:"; cat "$out" "$err"; fail=$((fail + 1))
  else
    echo "ok   mm $*"
  fi
}
# refused FILE TEXT: install refuses with exactly one line on stderr.
refused() {
  expect 1 "$2" -- plugin install "$MM_TEST_BROKENDIR/$1.so"
  local lines
  lines=$(wc -l <"$err")
  if [[ $lines -ne 1 ]]; then
    echo "FAIL: install $1: $lines lines on stderr, want 1"; cat "$err"; fail=$((fail + 1))
  fi
}

# The seven in-tree plugins, from the build tree.
expect 0 "" -- plugin list
for s in mmcls mmdet mmseg mmpose mmocr mmaction mmedit; do
  grep -qE "^$s +[0-9]" "$out" || { echo "FAIL: list lacks $s"; cat "$out"; fail=$((fail + 1)); }
done
expect 0 "Requires:   mmcls" -- plugin info mmdet
expect 0 "Plugin mmcls" -- plugin info mmcls
expect 0 "TRANSFORMS" -- plugin info mm
expect 1 "no plugin for scope 'nosuch'" -- plugin info nosuch
expect 2 "needs a SCOPE" -- plugin info
expect 2 "unknown subcommand 'frob'" -- plugin frob

# Round trip: install, list, info, clash, force, remove.
expect 0 "installed alpha 1.2.3 (6 components) as $XDG_DATA_HOME/mm/plugins/alpha.so" \
  -- plugin install "$MM_TEST_PLUGINDIR/alpha.so"
[[ "$(stat -c %a "$XDG_DATA_HOME/mm/plugins/alpha.so")" == 644 ]] ||
  { echo "FAIL: installed file is not mode 0644"; fail=$((fail + 1)); }
expect 0 "$XDG_DATA_HOME/mm/plugins/alpha.so" -- plugin list
expect 0 "alpha.Net: a test network" -- plugin info alpha
grep -qE "depth +int +required +number of blocks" "$out" ||
  { echo "FAIL: info alpha lacks the depth parameter"; cat "$out"; fail=$((fail + 1)); }
expect 0 "is already installed" -- plugin install "$XDG_DATA_HOME/mm/plugins/alpha.so"
cp "$MM_TEST_PLUGINDIR/alpha.so" "$tmp/alpha.so"
expect 1 "scope 'alpha' is already installed at $XDG_DATA_HOME/mm/plugins/alpha.so (use --force to replace it)" \
  -- plugin install "$tmp/alpha.so"
expect 0 "installed alpha" -- plugin install "$tmp/alpha.so" --force
expect 0 "" -- plugin install "$MM_TEST_PLUGINDIR/beta.so"
expect 0 "Requires:   alpha" -- plugin info beta
expect 0 "removed $XDG_DATA_HOME/mm/plugins/alpha.so" -- plugin remove alpha
expect 1 "no plugin 'alpha' in the user plugin directory" -- plugin remove alpha
expect 1 "mmcls is not in the user plugin directory" -- plugin remove mmcls
# beta stays installed, but what it requires is gone.
expect 1 "requires alpha: no plugin for scope 'alpha'" -- plugin info beta
expect 0 "removed" -- plugin remove beta

# Every refusal is one line, and mm is still there to print it.
refused badmagic "bad descriptor magic 0xdeadbeef"
refused abinext "built for mm ABI 2.0, this mm is 1.2"
refused wrongscope "the plugin's scope is 'rightname' but the file is named wrongscope.so"
refused crashinit "crashinit.so: crashed while loading"
refused nodesc "no plugin descriptor (it exports no mm_plugin_nodesc_get_desc"
refused needsmissing "needsmissing.so requires nosuchscope: no plugin for scope 'nosuchscope'"
refused notelf "not a shared object (no ELF header)"
refused dupreg "dupreg.so: init failed: dupreg.Twice is already registered in MODELS"
MM_PLUGIN_PATH="$MM_TEST_BROKENDIR" refused cyca "plugin requirement cycle: cyca -> cycb -> cyca"
expect 1 "a plugin file is named <scope>.so" -- plugin install "$MM_TEST_PLUGINDIR/test_registry.c"
[[ ! -e "$XDG_DATA_HOME/mm/plugins/badmagic.so" ]] || { echo "FAIL: a refused plugin was installed"; fail=$((fail + 1)); }

# A world-writable directory on the path is skipped with a warning.
mkdir -p "$tmp/ww" && cp "$MM_TEST_PLUGINDIR/alpha.so" "$tmp/ww/" && chmod 0777 "$tmp/ww"
MM_PLUGIN_PATH="$tmp/ww" expect 0 "plugin directory '$tmp/ww' (MM_PLUGIN_PATH) is world-writable: skipped" -- plugin list
grep -q "^alpha" "$out" && { echo "FAIL: alpha listed from a world-writable directory"; fail=$((fail + 1)); }
MM_PLUGIN_PATH="relative/dir" expect 0 "is not an absolute path: skipped" -- plugin list
expect 0 "" -- --plugin-path "$MM_TEST_PLUGINDIR" plugin info alpha

echo "$fail failed"
[[ $fail -eq 0 ]]
