#!/usr/bin/env python3
"""Reference values for mm's multi-label metrics, from mmpretrain itself.

Runs mmpretrain 1.2.0's MultiLabelMetric and AveragePrecision
(mmpretrain/evaluation/metrics/multi_label.py) on the cases of
tests/eval/multilabel_cases.yaml the way mmengine's Evaluator drives them
(process, then evaluate(size)) and prints one JSON object: case name -> the
metrics dict (keys with the prefix), or {"error": message}.

    /work/venv-bench/bin/python tools/parity/multilabel_metrics_mmpretrain.py \\
        tests/eval/multilabel_cases.yaml > tests/eval/multilabel_expected.json

It needs a Python with mmpretrain 1.2.0, mmengine, mmcv-lite and torch.
"""
import json
import sys
import warnings

import torch
import yaml

warnings.filterwarnings('ignore')

from mmpretrain.evaluation.metrics import (AveragePrecision,  # noqa: E402
                                           MultiLabelMetric)

CLASSES = {'MultiLabelMetric': MultiLabelMetric,
           'AveragePrecision': AveragePrecision}


def samples(sset):
    out = []
    for i, row in enumerate(sset['scores']):
        s = {'pred_score': torch.tensor(row, dtype=torch.float32)}
        if 'gt_score' in sset:
            s['gt_score'] = torch.tensor(sset['gt_score'][i],
                                         dtype=torch.float32)
        else:
            s['gt_label'] = torch.tensor(sset['gt_label'][i],
                                         dtype=torch.int64)
        out.append(s)
    return out


def main():
    doc = yaml.safe_load(open(sys.argv[1]))
    out = {}
    # mmengine's logger prints its warnings to stdout: keep them off the JSON
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    for name, case in doc['cases'].items():
        cfg = dict(case['metric'])
        cls = CLASSES[cfg.pop('type')]
        try:
            metric = cls(**cfg)
            data = samples(doc['samples'][case['samples']])
            metric.process(None, data)
            out[name] = metric.evaluate(len(data))
        except Exception as e:  # noqa: BLE001
            out[name] = {'error': str(e)}
    sys.stdout = real_stdout
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == '__main__':
    main()
