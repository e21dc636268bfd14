#!/usr/bin/env python3
"""Reference values for mm's mmcls metrics, from mmpretrain itself.

Runs mmpretrain 1.x's Accuracy and SingleLabelMetric (the real classes of
mmpretrain/evaluation/metrics/single_label.py, on mmengine's real
BaseMetric) on the cases of tests/eval/cases.yaml, the way mmengine's
Evaluator drives them (process per batch, then evaluate(size)), and prints
one JSON object: case name -> the metrics dict, or {"error": message}.

    python tools/parity/metrics_mmpretrain.py tests/eval/cases.yaml \
        > tests/eval/mmpretrain_expected.json

It needs torch, mmengine and the mmpretrain package files. mmpretrain's
package __init__ pulls in mmcv, so only the one module file is loaded, with
a stand-in `mmpretrain.registry` (its METRICS registry is all the module
takes from the package). A Python that works (Debian 12):

    apt-get install python3-torch python3-yaml
    python3 -m venv --system-site-packages /tmp/oracle
    /tmp/oracle/bin/pip install --no-deps mmengine==0.10.7 mmpretrain==1.2.0 \
        addict yapf termcolor rich markdown-it-py mdurl pygments \
        platformdirs packaging
"""
import importlib.metadata
import importlib.util
import json
import sys
import types

import torch
import yaml
from mmengine.registry import Registry


def load_single_label():
    spec = importlib.util.find_spec('mmpretrain')
    if spec is None:
        sys.exit('mmpretrain is not installed (pip install --no-deps '
                 'mmpretrain==1.2.0)')
    root = spec.submodule_search_locations[0]
    pkg = types.ModuleType('mmpretrain')
    pkg.__path__ = []
    registry = types.ModuleType('mmpretrain.registry')
    registry.METRICS = Registry('metric')
    sys.modules['mmpretrain'] = pkg
    sys.modules['mmpretrain.registry'] = registry
    path = root + '/evaluation/metrics/single_label.py'
    mspec = importlib.util.spec_from_file_location(
        'mmpretrain_single_label', path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module, path


def data_samples(sset, preds):
    """Data samples as mmpretrain's DataSample gives them to metrics: a
    float32 score tensor, labels as int64 tensors of shape (1,)."""
    out = []
    for i, gt in enumerate(sset['gt_label']):
        s = {'gt_label': torch.tensor([gt], dtype=torch.int64),
             'pred_label': torch.tensor([sset['pred_label'][i]],
                                        dtype=torch.int64)}
        if preds == 'scores':
            s['pred_score'] = torch.tensor(sset['scores'][i],
                                           dtype=torch.float32)
        elif preds == 'labels_with_classes':
            s['num_classes'] = len(sset['scores'][i])
        out.append(s)
    return out


def tuple_args(cfg):
    # mmpretrain takes topk/thrs/items as tuples or scalars; a YAML list
    # becomes the tuple a Python config would write.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else 'tests/eval/cases.yaml'
    with open(path) as f:
        spec = yaml.safe_load(f)
    module, src = load_single_label()
    results = {}
    for name, case in spec['cases'].items():
        cfg = dict(case['metric'])
        cls = getattr(module, cfg.pop('type'))
        sset = spec['samples'][case['samples']]
        samples = data_samples(sset, case['preds'])
        try:
            metric = cls(**tuple_args(cfg))
            metric.process(None, samples[:5])
            metric.process(None, samples[5:])
            results[name] = metric.evaluate(case.get('size', len(samples)))
        except Exception as e:  # noqa: BLE001 - recorded, not raised
            results[name] = {'error': f'{type(e).__name__}: {e}'}
    results['_generated_by'] = (
        'tools/parity/metrics_mmpretrain.py on ' + path + ' with torch ' +
        torch.__version__ + ', mmengine ' + __import__('mmengine').__version__
        + ', ' + src.split('/site-packages/')[-1] + ' of mmpretrain ' +
        importlib.metadata.version('mmpretrain'))
    json.dump(results, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
