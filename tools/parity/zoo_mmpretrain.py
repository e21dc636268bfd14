#!/usr/bin/env python3
"""Parity of the mmcls model zoo with mmpretrain: a random-weight
mmpretrain model's state dict loads into mm with NO key map (strictly:
every key must match) and gives the same logits.

For each case of tests/parity/zoo/*.json with an "mmpretrain_model" entry
(the model config as mmpretrain's Python dict, scope mmpretrain), the
script builds it with mmpretrain's MODELS registry, runs init_weights()
(mmpretrain's own init), perturbs constant tensors, saves the state dict
with torch.save and compares, in eval mode, mmpretrain's logits with those
of tests/parity/zoo_driver on the case's config ("mmpretrain_config" when
given, else "config"; "mmpretrain_input" overrides "input"):
relative error max|mm - mmpretrain| / max|mmpretrain| <= 1e-4.

    /path/to/python-with-mmpretrain zoo_mmpretrain.py \\
        --driver build/tests/parity/zoo_driver --plugin-dir build/plugins \\
        --root . [--only NAME] [--seed N]

Skipped (77) when mmpretrain cannot be imported.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import torch
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
except ImportError as e:
    print('skipped: %s (a Python with mmpretrain 1.2 is needed)' % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_common import perturb, rel_err, st_read, st_write  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--driver', required=True)
    ap.add_argument('--plugin-dir', required=True)
    ap.add_argument('--root', default='.')
    ap.add_argument('--only', action='append')
    ap.add_argument('--seed', type=int)
    ap.add_argument('--format', choices=['pth', 'safetensors'],
                    default='pth')
    ap.add_argument('cases', nargs='*')
    opts = ap.parse_args()
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 31)
    import mmpretrain
    print('seed %d (torch %s, mmpretrain %s)'
          % (seed, torch.__version__, mmpretrain.__version__))
    register_all_modules()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    files = opts.cases or sorted(glob.glob(
        os.path.join(opts.root, 'tests', 'parity', 'zoo', '*.json')))
    cases = []
    for f in files:
        with open(f) as fh:
            cases += [c for c in json.load(fh) if c.get('mmpretrain_model')]
    if opts.only:
        cases = [c for c in cases if c['name'] in opts.only]
    if not cases:
        print('skipped: no mmpretrain cases')
        return 77
    checks = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate(cases):
            name = c['name']
            gen = torch.Generator().manual_seed(seed + i)
            torch.manual_seed(seed + i)
            model = MODELS.build(c['mmpretrain_model'])
            model.init_weights()
            perturb(model, gen)
            model.eval()
            weights = os.path.join(tmp, name + '.' + opts.format)
            if opts.format == 'pth':
                torch.save(model.state_dict(), weights)
            else:
                st_write(weights, list(model.state_dict().items()), {})
            x = torch.randn(c.get('mmpretrain_input', c['input']),
                            generator=gen)
            inp = os.path.join(tmp, name + '.in.safetensors')
            out = os.path.join(tmp, name + '.out.safetensors')
            st_write(inp, [('x', x)], {})
            with torch.no_grad():
                want = model(x, mode='tensor')
            if isinstance(want, (tuple, list)):
                want = want[-1]
            config = os.path.join(opts.root,
                                  c.get('mmpretrain_config', c['config']))
            cfg_opts = c.get('cfg_options', [])
            cmd = [opts.driver, '--plugin-dir', opts.plugin_dir]
            if cfg_opts:
                cmd += ['--cfg-options'] + cfg_opts
            cmd += ['forward', config, weights, inp, out]
            r = subprocess.run(cmd, capture_output=True, text=True)
            checks += 1
            if r.returncode != 0:
                failed += 1
                print('FAIL %s: %s' % (name, r.stderr.strip()), flush=True)
                continue
            got = st_read(out)['logits']
            err = rel_err(got, want)
            ok = tuple(got.shape) == tuple(want.shape) and err <= 1e-4
            failed += not ok
            print('%s %s: %d keys, no key map, logits %s, rel err %.2e'
                  % ('ok  ' if ok else 'FAIL', name,
                     len(model.state_dict()), list(want.shape), err),
                  flush=True)
    print('%d checks, %d failed' % (checks, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
