#!/usr/bin/env python3
"""Record mmpretrain's numbers for the mmcls heads, losses and batch augments.

Writes one safetensors file (tests/mmcls/mmpretrain_heads.safetensors) that
the `mmcls` suite replays without mmpretrain (tests/mmcls/test_heads.c):

  - StackedLinearClsHead(5, 8, mid_channels=[7, 6], dropout_rate=0.2,
    norm_cfg=BN1d) with random weights and BN statistics: its state_dict
    under `stacked.sd.<key>` (mm must load it strictly), eval-mode logits,
    the loss and pred_score / pred_label on `x` / `y`;
  - MultiLabelLinearClsHead(5, 8): `ml.sd.*`, logits, the loss on the
    multi-label gt_labels of ML_LABELS, pred_score, and the pred_label of
    thr=0.5, thr=0.3 and topk=2 (`ml.pred_label.<case>`, padded with -1);
  - each loss case of LOSSES through ClsHead (index targets) or
    MultiLabelClsHead (multi-hot targets): the loss and its gradient with
    respect to the scores (`loss.<name>`, `loss.<name>.grad`);
  - Mixup and CutMix with a fixed lam, permutation and box draws (numpy's
    and torch's random functions patched to return them): inputs and scores
    in and out, the box and the final lam (`aug.<case>.*`).

Run with the Python that has mmpretrain 1.2.0 (torch 1.13):

    /work/venv-bench/bin/python tools/parity/mmcls_heads_mmpretrain.py \\
        tests/mmcls/mmpretrain_heads.safetensors
"""
import json
import struct
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings('ignore')

from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402
from mmpretrain.utils import register_all_modules  # noqa: E402
from mmpretrain.models.utils.batch_augments import CutMix, Mixup  # noqa

ML_LABELS = [[0, 3], [1], [], [2, 4, 0], [4], [1, 3]]

# name, loss config as YAML flow text (mm builds it as written), target kind
LOSSES = [
    ('focal', "{type: FocalLoss}", 'index'),
    ('focal_args', "{type: FocalLoss, gamma: 1.5, alpha: 0.6, "
                   "loss_weight: 2.0}", 'multi'),
    ('focal_none', "{type: FocalLoss, reduction: none}", 'multi'),
    ('asl', "{type: AsymmetricLoss}", 'multi'),
    ('asl_args', "{type: AsymmetricLoss, gamma_pos: 1.0, gamma_neg: 2.0, "
                 "clip: 0.1, loss_weight: 0.5}", 'multi'),
    ('asl_noclip', "{type: AsymmetricLoss, clip: null}", 'multi'),
    ('asl_softmax', "{type: AsymmetricLoss, use_sigmoid: false}", 'index'),
    ('ce_sigmoid_ml', "{type: CrossEntropyLoss, use_sigmoid: true}",
     'multi'),
]


def flow_to_dict(text):
    import re
    t = re.sub(r'([A-Za-z_]\w*)', r'"\1"', text)
    t = t.replace('"true"', 'true').replace('"false"', 'false')
    t = t.replace('"null"', 'null')
    return json.loads(t)


def st_dump(path, tensors, metadata):
    dt = {torch.float32: ('F32', 'f'), torch.int64: ('I64', 'q'),
          torch.float64: ('F64', 'd')}
    header, blobs, at = {'__metadata__': metadata}, [], 0
    for name, t in tensors:
        t = t.detach().contiguous()
        code, fmt = dt[t.dtype]
        vals = t.reshape(-1).tolist()
        raw = struct.pack('<%d%s' % (len(vals), fmt), *vals)
        header[name] = {'dtype': code, 'shape': list(t.shape),
                        'data_offsets': [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def label_samples(labels):
    out = []
    for lab in labels:
        s = DataSample()
        s.set_gt_label(lab)
        out.append(s)
    return out


def padded(labels, width):
    rows = [list(map(int, lab)) + [-1] * (width - len(lab)) for lab in labels]
    return torch.tensor(rows, dtype=torch.int64)


def record_head(prefix, cfg, x, labels, out):
    head = MODELS.build(cfg)
    head.init_weights()
    with torch.no_grad():
        for name, b in head.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn_like(b) * 0.3)
            elif name.endswith('running_var'):
                b.copy_(torch.rand_like(b) + 0.5)
        for name, p in head.named_parameters():
            if 'norm' in name:
                p.copy_(torch.randn_like(p) * 0.5 + (1 if 'weight' in name
                                                      else 0))
    head.eval()
    for k, v in head.state_dict().items():
        out.append((f'{prefix}.sd.{k}', v))
    with torch.no_grad():
        logits = head((x, ))
        loss = head.loss((x, ), label_samples(labels))['loss']
        preds = head.predict((x, ), label_samples(labels))
    out += [(f'{prefix}.logits', logits), (f'{prefix}.loss', loss),
            (f'{prefix}.pred_score',
             torch.stack([p.pred_score for p in preds]))]
    return head, preds


def main():
    register_all_modules()
    path = sys.argv[1]
    torch.manual_seed(0)
    out = []
    x = torch.randn(6, 8)
    y = [0, 4, 2, 2, 1, 3]
    out += [('x', x), ('y', torch.tensor(y))]

    _, preds = record_head('stacked', dict(
        type='StackedLinearClsHead', num_classes=5, in_channels=8,
        mid_channels=[7, 6], dropout_rate=0.2, norm_cfg=dict(type='BN1d')),
        x, y, out)
    out.append(('stacked.pred_label',
                torch.cat([p.pred_label for p in preds])))

    out.append(('ml.labels', padded(ML_LABELS, 3)))
    head, preds = record_head('ml', dict(
        type='MultiLabelLinearClsHead', num_classes=5, in_channels=8),
        x, ML_LABELS, out)
    for case, kw in [('thr05', {}), ('thr03', dict(thr=0.3)),
                     ('top2', dict(topk=2)), ('both', dict(thr=0.3, topk=1))]:
        h = MODELS.build(dict(type='MultiLabelLinearClsHead', num_classes=5,
                              in_channels=8, **kw))
        h.load_state_dict(head.state_dict())
        with torch.no_grad():
            ps = h.predict((x, ))
        out.append((f'ml.pred_label.{case}',
                    padded([p.pred_label for p in ps], 5)))

    scores = torch.randn(6, 5) * 2
    multi = torch.zeros(6, 5)
    for i, lab in enumerate(ML_LABELS):
        multi[i, lab] = 1
    out += [('loss.scores', scores)]
    for name, text, kind in LOSSES:
        cfg = flow_to_dict(text)
        s = scores.clone().requires_grad_(True)
        if kind == 'index':
            head = MODELS.build(dict(type='ClsHead', loss=cfg))
            loss = head.loss((s, ), label_samples(y))['loss']
        else:
            head = MODELS.build(dict(type='MultiLabelClsHead', loss=cfg))
            loss = head.loss((s, ), label_samples(ML_LABELS))['loss']
        loss.sum().backward()
        out += [(f'loss.{name}', loss.detach()),
                (f'loss.{name}.grad', s.grad)]

    # batch augments with fixed draws
    inputs = torch.randn(4, 3, 6, 5)
    onehot = torch.nn.functional.one_hot(torch.tensor([1, 0, 4, 2]),
                                         5).float()
    out += [('aug.inputs', inputs), ('aug.scores', onehot)]
    index = torch.tensor([2, 0, 3, 1])
    aug_cases = [
        ('mixup', Mixup(alpha=0.2), 0.3, []),
        ('cutmix', CutMix(alpha=1.0), 0.6, [3, 1]),
        ('cutmix_edge', CutMix(alpha=1.0), 0.35, [0, 4]),
        ('cutmix_nocorrect', CutMix(alpha=1.0, correct_lam=False), 0.6,
         [5, 2]),
        ('cutmix_minmax', CutMix(alpha=1.0, cutmix_minmax=[0.2, 0.8]), 0.5,
         [2, 3, 1, 0]),
    ]
    orig = (np.random.beta, np.random.randint, torch.randperm)
    for name, aug, lam, draws in aug_cases:
        it = iter(draws)
        np.random.beta = lambda a, b: lam
        np.random.randint = lambda lo, hi=None, size=None: next(it)
        torch.randperm = lambda n: index
        box = []
        if isinstance(aug, CutMix):
            real = aug.cutmix_bbox_and_lam

            def spy(shape, lam_, real=real, box=box):
                r = real(shape, lam_)
                box.extend(int(v) for v in r[0])
                box.append(r[1])
                return r
            aug.cutmix_bbox_and_lam = spy
        xo, so = aug(inputs.clone(), onehot.clone())
        np.random.beta, np.random.randint, torch.randperm = orig
        out += [(f'aug.{name}.inputs', xo), (f'aug.{name}.scores', so),
                (f'aug.{name}.draws',
                 torch.tensor([lam] + [float(d) for d in draws] +
                              [float(b) for b in box], dtype=torch.float64))]
    out.append(('aug.index', index))
    meta = {'losses': json.dumps([[n, t, k] for n, t, k in LOSSES]),
            'mmpretrain': __import__('mmpretrain').__version__,
            'torch': torch.__version__}
    st_dump(path, out, meta)


if __name__ == '__main__':
    main()
