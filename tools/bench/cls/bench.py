"""ResNet-18 and ResNet-50 at 224x224, side by side in one run, same thread
count: mm (build/tools/bench/cls_bench on the shipped configs) against
PyTorch (torchvision models; each --torch-python, e.g. Debian's 1.13 and a
PyPI release) and onnxruntime (the torchvision model exported to ONNX by
the first --torch-python).

    python3 tools/bench/cls/bench.py [--bench build/tools/bench/cls_bench]
        [--plugin-dir build/plugins] --torch-python /usr/bin/python3
        [--torch-python /path/to/pypi/python] [--ort-python PY]
        [--threads 2] [--iters 10] [--only NAME]

Rows: inference latency at batch 1 (ms, median), inference throughput at
batch 16 in f32 and bf16 (img/s; bf16: autocast, AMX where the CPU has
it), and ResNet-18 training throughput at batch 32 (forward, cross
entropy, backward, SGD step). Each cell is the median of --iters timed
iterations after two warm-up ones; "x" columns are mm's speed over the
other's (above 1: mm is faster). Random weights everywhere: speed does not
depend on them.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CONFIGS = {
    'resnet18': 'configs/mmcls/resnet/resnet18_8xb32_in1k.yaml',
    'resnet50': 'configs/mmcls/resnet/resnet50_8xb32_in1k.yaml',
}
# (name, model, mode, batch, dtype, unit)
ROWS = [
    ('resnet18 latency b1 f32', 'resnet18', 'infer', 1, 'f32', 'ms'),
    ('resnet18 b16 f32', 'resnet18', 'infer', 16, 'f32', 'img/s'),
    ('resnet18 b16 bf16', 'resnet18', 'infer', 16, 'bf16', 'img/s'),
    ('resnet50 latency b1 f32', 'resnet50', 'infer', 1, 'f32', 'ms'),
    ('resnet50 b16 f32', 'resnet50', 'infer', 16, 'f32', 'img/s'),
    ('resnet50 b16 bf16', 'resnet50', 'infer', 16, 'bf16', 'img/s'),
    ('resnet18 train b32 f32', 'resnet18', 'train', 32, 'f32', 'img/s'),
]


def run_json(cmd, env=None):
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        print('bench: %s failed:\n%s' % (' '.join(cmd), p.stderr[-1500:]),
              file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def value(res, unit):
    if res is None:
        return None
    return res['median_ms'] if unit == 'ms' else res['img_s']


def speedup(mm, other, unit):
    if mm is None or other is None:
        return None
    return other / mm if unit == 'ms' else mm / other


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bench', default='build/tools/bench/cls_bench')
    ap.add_argument('--plugin-dir', default='build/plugins')
    ap.add_argument('--torch-python', action='append', default=[])
    ap.add_argument('--ort-python')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--only', action='append')
    a = ap.parse_args()
    rows = [r for r in ROWS if not a.only or r[0] in a.only]
    env = dict(os.environ, MM_NUM_THREADS=str(a.threads),
               OMP_NUM_THREADS=str(a.threads))
    cols = ['mm'] + ['torch %d' % i for i in range(len(a.torch_python))]
    if a.ort_python:
        cols.append('onnxruntime')
    versions = {}
    table = []
    tmp = tempfile.mkdtemp(prefix='bench_cls_')
    for name, model, mode, batch, dtype, unit in rows:
        cells = {}
        cells['mm'] = value(run_json(
            [a.bench, '--plugin-dir', a.plugin_dir, CONFIGS[model], mode,
             str(batch), '224', dtype, str(a.iters)], env), unit)
        for i, py in enumerate(a.torch_python):
            res = run_json([py, os.path.join(HERE, 'cls_torch.py'),
                            '--model', model, '--mode', mode, '--batch',
                            str(batch), '--dtype', dtype, '--iters',
                            str(a.iters), '--threads', str(a.threads)], env)
            if res:
                versions['torch %d' % i] = 'torch ' + res['version']
            cells['torch %d' % i] = value(res, unit)
        if a.ort_python and a.torch_python and mode == 'infer' and \
                dtype == 'f32':
            onnx = os.path.join(tmp, '%s_b%d.onnx' % (model, batch))
            if not os.path.exists(onnx):
                subprocess.run([a.torch_python[0],
                                os.path.join(HERE, 'cls_torch.py'),
                                '--model', model, '--batch', str(batch),
                                '--export', onnx], cwd=ROOT,
                               capture_output=True)
            res = run_json([a.ort_python, os.path.join(HERE, 'cls_onnx.py'),
                            onnx, '--batch', str(batch), '--iters',
                            str(a.iters), '--threads', str(a.threads)], env)
            if res:
                versions['onnxruntime'] = 'onnxruntime ' + res['version']
            cells['onnxruntime'] = value(res, unit)
        table.append((name, unit, cells))
        print(json.dumps({'row': name, 'unit': unit, 'cells': cells}),
              file=sys.stderr, flush=True)
    heads = [versions.get(c, c) for c in cols]
    print('threads %d, %d timed iterations per cell (median)'
          % (a.threads, a.iters))
    print('| case | unit | ' + ' | '.join(heads) + ' | ' +
          ' | '.join('mm vs ' + h for h in heads[1:]) + ' |')
    print('|' + ' --- |' * (2 + 2 * len(cols) - 1))
    for name, unit, cells in table:
        vals = ['%.1f' % cells[c] if cells.get(c) is not None else '-'
                for c in cols]
        ratios = []
        for c in cols[1:]:
            s = speedup(cells.get('mm'), cells.get(c), unit)
            ratios.append('%.2fx' % s if s is not None else '-')
        print('| %s | %s | %s | %s |' % (name, unit, ' | '.join(vals),
                                         ' | '.join(ratios)))


if __name__ == '__main__':
    main()
