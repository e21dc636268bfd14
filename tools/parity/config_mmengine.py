#!/usr/bin/env python3
"""Config parity check: mm's config loader against mmengine's Config.

Usage: config_mmengine.py MM_BINARY CASES_FILE
       config_mmengine.py --dump-mmengine CASES_FILE [NAME...]
         (prints mmengine's result for each case as JSON; no mm needed)

For every case in CASES_FILE (JSON, see tests/parity/config/cases.json) the
config is loaded twice, from the directory holding CASES_FILE and with the
same environment:

  * mmengine: Config.fromfile(CONFIG), then the overrides go through
    mmengine's own command-line path -- an argparse ``--cfg-options`` option
    with ``action=DictAction`` (as in mmengine/mmpretrain tools/train.py) and
    ``cfg.merge_from_dict(args.cfg_options)`` -- and finally cfg.to_dict();
  * mm: ``MM_BINARY config print CONFIG OVERRIDE... --format json``.

The two results are compared type-strictly (bool, int, float, str, None,
list and dict must match exactly; dict key order is ignored; floats must be
equal or both NaN) and the first differing path is reported.  For a case with
"error": true, mmengine must raise, and mm must exit with status 1 (or the
case's "mm_exit"; never a signal) after writing one non-empty line on stderr.

Output: one line per case, ``ok NAME`` or ``FAIL NAME: reason``, then
``N passed, N failed``.  Exit status 0 iff every case passed; 77 (meson's
"skipped") when mmengine cannot be imported or MM_BINARY does not exist.

Case fields:
  name       unique name
  config     config path, relative to the directory holding CASES_FILE
  overrides  list of KEY=VALUE strings as typed on a command line (optional)
  env        {"VAR": "value"} to set, {"VAR": null} to unset (optional);
             every variable named MM_PARITY_* is unset unless listed here
  error      true when loading must fail (optional, default false)
  abspath    true to pass the config as an absolute path (optional)
  mm_exit    the exit status mm must give for an error case (default 1;
             2 is mm's status for a usage error)
  note       free text (ignored)
"""

import argparse
import contextlib
import io
import json
import logging
import math
import os
import subprocess
import sys

SKIP = 77
ENV_PREFIX = 'MM_PARITY_'
MM_TIMEOUT_S = 60


def load_mmengine():
    try:
        import mmengine  # noqa: F401
        from mmengine.config import Config, DictAction
    except Exception as e:  # ImportError, or a broken install
        print(f'skip: cannot import mmengine with {sys.executable}: '
              f'{type(e).__name__}: {e}')
        sys.exit(SKIP)
    # Config's env-variable substitution logs through MMLogger to stdout;
    # keep this script's output to one line per case.
    try:
        from mmengine.logging import MMLogger
        MMLogger.get_current_instance().setLevel(logging.ERROR)
    except Exception:
        pass
    return Config, DictAction


def case_env(case):
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for k, v in (case.get('env') or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


@contextlib.contextmanager
def patched_environ(env):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_mmengine(Config, DictAction, cfg_path, overrides, env):
    """Return ('ok', dict) or ('error', message)."""
    # The argument parser mmengine-based tools use for --cfg-options.
    parser = argparse.ArgumentParser(prog='mmengine-parity', add_help=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    sink = io.StringIO()
    try:
        with patched_environ(env), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            cfg = Config.fromfile(cfg_path)
            if overrides:
                args = parser.parse_args(['--cfg-options', *overrides])
                if args.cfg_options is not None:
                    cfg.merge_from_dict(args.cfg_options)
            result = cfg.to_dict()
    except SystemExit as e:  # argparse rejected the command line
        return 'error', f'argparse exit {e.code}: {sink.getvalue().strip()}'
    except Exception as e:
        return 'error', f'{type(e).__name__}: {e}'
    return 'ok', result


def run_mm(mm, cfg_path, overrides, env, cwd):
    """Return (returncode, stdout, stderr); returncode None on timeout."""
    cmd = [mm, 'config', 'print', cfg_path, *overrides, '--format', 'json']
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                           timeout=MM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, b'', b''
    return p.returncode, p.stdout, p.stderr


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f'duplicate key {k!r} in mm JSON output')
        out[k] = v
    return out


def _json_key(k):
    # What json.dumps would make of a non-string key; fixtures avoid these.
    if k is True:
        return 'true'
    if k is False:
        return 'false'
    if k is None:
        return 'null'
    return str(k)


def fmt_path(path):
    return path if path else '<root>'


def kind(v):
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, int):
        return 'int'
    if isinstance(v, float):
        return 'float'
    if isinstance(v, str):
        return 'str'
    if v is None:
        return 'null'
    if isinstance(v, (list, tuple)):
        return 'list'
    if isinstance(v, dict):
        return 'dict'
    return type(v).__name__


def show(v):
    s = repr(v)
    return s if len(s) <= 120 else s[:117] + '...'


def compare(want, got, path=''):
    """First difference between mmengine's value and mm's, or None."""
    kw, kg = kind(want), kind(got)
    if kw not in ('bool', 'int', 'float', 'str', 'null', 'list', 'dict'):
        return (f'{fmt_path(path)}: mmengine produced a {kw} ({show(want)}), '
                'which JSON cannot carry; fix the fixture')
    if kw != kg:
        return (f'{fmt_path(path)}: mmengine {kw} {show(want)} vs '
                f'mm {kg} {show(got)}')
    if kw == 'dict':
        want = {_json_key(k): v for k, v in want.items()}
        missing = [k for k in want if k not in got]
        if missing:
            return (f'{fmt_path(path)}: key {missing[0]!r} missing in mm '
                    f'(mmengine value {show(want[missing[0]])})')
        extra = [k for k in got if k not in want]
        if extra:
            return (f'{fmt_path(path)}: extra key {extra[0]!r} in mm '
                    f'(mm value {show(got[extra[0]])})')
        for k, v in want.items():
            d = compare(v, got[k], f'{path}.{k}' if path else k)
            if d:
                return d
        return None
    if kw == 'list':
        if len(want) != len(got):
            return (f'{fmt_path(path)}: list length {len(want)} in mmengine '
                    f'vs {len(got)} in mm: mmengine {show(want)} vs '
                    f'mm {show(got)}')
        for i, (a, b) in enumerate(zip(want, got)):
            d = compare(a, b, f'{path}[{i}]')
            if d:
                return d
        return None
    if kw == 'float':
        if math.isnan(want) and math.isnan(got):
            return None
        if want == got and math.copysign(1, want) == math.copysign(1, got):
            return None
        return f'{fmt_path(path)}: mmengine {want!r} vs mm {got!r}'
    if want != got:
        return f'{fmt_path(path)}: mmengine {show(want)} vs mm {show(got)}'
    return None


def one_line(b):
    s = b.decode('utf-8', 'replace').strip()
    return s.splitlines()[0] if s else ''


def check_case(case, Config, DictAction, mm, base_dir):
    cfg_path = case['config']
    if case.get('abspath'):
        cfg_path = os.path.join(base_dir, cfg_path)
    overrides = list(case.get('overrides') or [])
    env = case_env(case)
    expect_error = bool(case.get('error'))

    # mmengine resolves relative paths against the working directory.
    saved_cwd = os.getcwd()
    os.chdir(base_dir)
    try:
        status, me = run_mmengine(Config, DictAction, cfg_path, overrides, env)
    finally:
        os.chdir(saved_cwd)

    if expect_error and status == 'ok':
        return 'fixture expects an error but mmengine loaded it'
    if not expect_error and status == 'error':
        return f'mmengine failed on a success fixture: {me}'

    rc, out, err = run_mm(mm, cfg_path, overrides, env, base_dir)
    if rc is None:
        return f'mm timed out after {MM_TIMEOUT_S}s'
    if rc < 0:
        return f'mm killed by signal {-rc}: {one_line(err)}'

    if expect_error:
        text = err.decode('utf-8', 'replace')
        lines = text.rstrip('\n').split('\n') if text.strip() else []
        want_rc = case.get('mm_exit', 1)
        if rc != want_rc:
            return (f'expected mm exit {want_rc} (mmengine: {me}), got {rc}; '
                    f'stderr: {one_line(err)!r}')
        if not lines:
            return f'mm exited {rc} with empty stderr (mmengine: {me})'
        if len(lines) != 1:
            return (f'mm stderr has {len(lines)} lines, want 1: '
                    f'{text.strip()[:200]!r}')
        return None

    if rc != 0:
        return f'mm exit {rc}: {one_line(err)!r}'
    try:
        got = json.loads(out.decode('utf-8'),
                         object_pairs_hook=_no_duplicate_keys)
    except (ValueError, UnicodeDecodeError) as e:
        return f'mm output is not valid JSON ({e}): {out[:200]!r}'
    return compare(me, got)


def dump_mmengine(cases_file, only):
    Config, DictAction = load_mmengine()
    cases_file = os.path.abspath(cases_file)
    base_dir = os.path.dirname(cases_file)
    with open(cases_file, encoding='utf-8') as f:
        spec = json.load(f)
    for case in spec['cases'] if isinstance(spec, dict) else spec:
        if only and case['name'] not in only:
            continue
        cfg_path = case['config']
        if case.get('abspath'):
            cfg_path = os.path.join(base_dir, cfg_path)
        os.chdir(base_dir)
        status, me = run_mmengine(Config, DictAction, cfg_path,
                                  list(case.get('overrides') or []),
                                  case_env(case))
        want = 'error' if case.get('error') else 'ok'
        print(f'== {case["name"]} (want {want}): {status}')
        print(json.dumps(me, indent=1, ensure_ascii=False, default=repr)
              if status == 'ok' else me)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == '--dump-mmengine':
        return dump_mmengine(argv[2], set(argv[3:]))
    if len(argv) != 3:
        print(f'usage: {argv[0]} MM_BINARY CASES_FILE', file=sys.stderr)
        return 2
    mm, cases_file = argv[1], argv[2]
    if not (os.path.isfile(mm) and os.access(mm, os.X_OK)):
        print(f'skip: mm binary {mm!r} is missing or not executable')
        return SKIP
    mm = os.path.abspath(mm)
    Config, DictAction = load_mmengine()

    cases_file = os.path.abspath(cases_file)
    base_dir = os.path.dirname(cases_file)
    with open(cases_file, encoding='utf-8') as f:
        spec = json.load(f)
    cases = spec['cases'] if isinstance(spec, dict) else spec

    names = set()
    passed = failed = 0
    for case in cases:
        name = case['name']
        if name in names:
            print(f'FAIL {name}: duplicate case name')
            failed += 1
            continue
        names.add(name)
        try:
            reason = check_case(case, Config, DictAction, mm, base_dir)
        except Exception as e:  # a harness bug must not hide other cases
            reason = f'harness error: {type(e).__name__}: {e}'
        if reason:
            print(f'FAIL {name}: {reason}')
            failed += 1
        else:
            print(f'ok {name}')
            passed += 1
        sys.stdout.flush()
    print(f'{passed} passed, {failed} failed')
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
