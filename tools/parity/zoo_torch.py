#!/usr/bin/env python3
"""Parity of the mmcls model zoo with torchvision (Debian's 0.14).

For each case of tests/parity/zoo/*.json (a list of objects):

    {"name": "resnet18", "torchvision": "resnet18", "tv_kwargs": {},
     "config": "configs/mmcls/resnet/resnet18_8xb32_in1k.yaml",
     "map": "torchvision.resnet", "input": [2, 3, 224, 224],
     "train_steps": 5, "cfg_options": ["k=v"], "train_cfg_options": ["k=v"]}

the script builds torchvision.models.<torchvision>(**tv_kwargs) from a
seeded random init (constant tensors such as BatchNorm's weight, bias and
running statistics, or layer scales, are perturbed so that nothing is
trivially 0 or 1), saves its state_dict with torch.save, and has
tests/parity/zoo_driver (mm) load it through the key map into the model of
the case's config:

  - eval: logits on a random input, relative error max|mm - torch| /
    max|torch| <= 1e-4 (f32);
  - train (train_steps > 0): that many SGD steps (lr 0.01, momentum 0.9,
    weight_decay 1e-4, cross entropy) on random batches from the same
    weights: each step's loss (relative error <= 1e-4) and, at the end,
    every parameter and buffer (the torch-trained state dict translated by
    the same key map; max error <= 1e-3 of the tensor's largest value).
    Dropout and stochastic depth are switched off on the torch side;
    `train_cfg_options` does the same in mm.

    zoo_torch.py --driver build/tests/parity/zoo_driver \\
        --plugin-dir build/plugins --root . [--only NAME] [--seed N]

Prints one line per check and exits 1 on any mismatch; the seed is printed.
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
    import torchvision
except ImportError as e:
    print('skipped: %s (apt-get install python3-torch python3-torchvision)'
          % e)
    sys.exit(77)
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_common import perturb, rel_err, st_read, st_write  # noqa: E402

def no_dropout(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if type(m).__name__ == 'StochasticDepth':
            m.p = 0.0


class Runner:
    def __init__(self, opts, tmp):
        self.opts, self.tmp, self.failed, self.checks = opts, tmp, 0, 0

    def report(self, ok, what):
        self.checks += 1
        if not ok:
            self.failed += 1
        print('%s %s' % ('ok  ' if ok else 'FAIL', what), flush=True)

    def driver(self, *argv):
        cmd = [self.opts.driver, '--plugin-dir', self.opts.plugin_dir]
        cmd += list(argv)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip() or 'driver failed')

    def save(self, model, name):
        path = os.path.join(self.tmp, name)
        if self.opts.format == 'pth':
            path += '.pth'
            torch.save(model.state_dict(), path)
        else:
            path += '.safetensors'
            st_write(path, [(k, v) for k, v in model.state_dict().items()],
                     {})
        return path

    def case(self, c, seed):
        name = c['name']
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = getattr(torchvision.models, c['torchvision'])(
            **c.get('tv_kwargs', {}))
        perturb(model, gen)
        model.eval()
        config = os.path.join(self.opts.root, c['config'])
        mp = ['--map', c['map']] if c.get('map') else []
        opts = c.get('cfg_options', [])
        weights = self.save(model, name)
        x = torch.randn(c['input'], generator=gen)
        inp = os.path.join(self.tmp, name + '.in.safetensors')
        out = os.path.join(self.tmp, name + '.out.safetensors')
        st_write(inp, [('x', x)], {})
        with torch.no_grad():
            want = model(x)
        try:
            self.driver(*mp, *(['--cfg-options'] + opts if opts else []),
                        'forward', config, weights, inp, out)
            got = st_read(out)['logits']
            err = rel_err(got, want)
            self.report(tuple(got.shape) == tuple(want.shape) and
                        err <= 1e-4,
                        '%s: eval logits %s, rel err %.2e'
                        % (name, list(want.shape), err))
        except RuntimeError as e:
            self.report(False, '%s: eval: %s' % (name, e))
        steps = c.get('train_steps', 0)
        if steps:
            self.train(c, model, weights, mp, steps, gen)

    def train(self, c, model, weights, mp, steps, gen):
        name = c['name']
        config = os.path.join(self.opts.root, c['config'])
        opts = c.get('cfg_options', []) + c.get('train_cfg_options', [])
        n = c['input'][0]
        sgd = {'lr': 0.01, 'momentum': 0.9, 'weight_decay': 1e-4}
        no_dropout(model)
        model.train()
        with torch.no_grad():
            num_classes = model(torch.randn(c['input'])).shape[1]
        # the forward above moved BatchNorm's running statistics: start
        # over from the saved weights
        model.load_state_dict(torch.load(weights)
                              if weights.endswith('.pth')
                              else st_read(weights))
        batches, tensors = [], []
        for k in range(steps):
            x = torch.randn(c['input'], generator=gen)
            y = torch.randint(0, num_classes, (n,), generator=gen)
            batches.append((x, y))
            tensors += [('x%d' % k, x), ('y%d' % k, y)]
        inp = os.path.join(self.tmp, name + '.train.safetensors')
        out = os.path.join(self.tmp, name + '.trained.safetensors')
        st_write(inp, tensors, {'sgd': json.dumps(sgd)})
        opt = torch.optim.SGD(model.parameters(), **sgd)
        losses = []
        for x, y in batches:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        trained = self.save(model, name + '.torch-trained')
        mapped = os.path.join(self.tmp, name + '.mapped.safetensors')
        try:
            self.driver(*(['--cfg-options'] + opts if opts else []), *mp,
                        'train', config, weights, inp, out)
            self.driver(*mp, 'map', trained, mapped)
        except RuntimeError as e:
            self.report(False, '%s: train: %s' % (name, e))
            return
        got, want = st_read(out), st_read(mapped)
        for k, ref in enumerate(losses):
            err = rel_err(got['loss%d' % k].reshape(()), ref)
            self.report(err <= 1e-4, '%s: train step %d loss %.6f, rel err '
                        '%.2e' % (name, k + 1, float(ref), err))
        worst, worst_key, missing = 0.0, '', []
        for key, ref in want.items():
            if key not in got:
                missing.append(key)
                continue
            err = rel_err(got[key], ref) if ref.is_floating_point() else (
                0.0 if torch.equal(got[key], ref) else 1.0)
            if err > worst:
                worst, worst_key = err, key
        extra = sorted(set(got) - set(want) -
                       {'loss%d' % k for k in range(steps)})
        self.report(not missing and not extra and worst <= 1e-3,
                    '%s: %d tensors after %d steps, worst rel err %.2e (%s)%s'
                    % (name, len(want), steps, worst, worst_key,
                       ' missing %s extra %s' % (missing[:3], extra[:3])
                       if missing or extra else ''))


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
    print('seed %d (torch %s, torchvision %s)'
          % (seed, torch.__version__, torchvision.__version__))
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    files = opts.cases or sorted(glob.glob(
        os.path.join(opts.root, 'tests', 'parity', 'zoo', '*.json')))
    cases = []
    for f in files:
        with open(f) as fh:
            cases += json.load(fh)
    if opts.only:
        cases = [c for c in cases if c['name'] in opts.only]
    cases = [c for c in cases if c.get('torchvision')]
    if not cases:
        print('skipped: no torchvision cases')
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        r = Runner(opts, tmp)
        for i, c in enumerate(cases):
            r.case(c, seed + i)
    print('%d checks, %d failed' % (r.checks, r.failed))
    return 1 if r.failed else 0


if __name__ == '__main__':
    sys.exit(main())
