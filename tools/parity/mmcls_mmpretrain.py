#!/usr/bin/env python3
"""Record mmpretrain's own numbers for the mmcls plugin's models and losses.

Writes one safetensors file (tests/mmcls/mmpretrain_lenet5.safetensors) that
the `mmcls` test suite replays without mmpretrain:

  - a randomly initialised mmpretrain ImageClassifier(LeNet5, ClsHead with
    CrossEntropyLoss) - its state_dict under `lenet.sd.<key>` (the key names
    are what mm must load, strictly), a batch `lenet.x`, labels `lenet.y`,
    the mode='tensor' logits, the mode='loss' loss and the mode='predict'
    pred_score / pred_label;
  - ImageClassifier(LeNet5(num_classes=-1), GlobalAveragePooling,
    LinearClsHead(10, 120)) after init_weights(), with the first model's
    backbone.features weights (not written twice): `linear.*` likewise, on
    the same batch;
  - ClsDataPreprocessor(mean=[33.46], std=[78.87]) on a u8 batch;
  - each loss case of CASES (a config mm builds as it is written here, and a
    target kind) through mmpretrain's ClsHead.loss on fixed scores:
    `loss.<name>`. The case list is in the metadata (`cases`, JSON).

Needs mmpretrain 1.x with mmengine and mmcv-lite, e.g.

    /usr/bin/python3 -m venv --system-site-packages /work/venv-mmpt
    /work/venv-mmpt/bin/pip install mmpretrain mmengine mmcv-lite
    /work/venv-mmpt/bin/python tools/parity/mmcls_mmpretrain.py \\
        tests/mmcls/mmpretrain_lenet5.safetensors

(recorded with mmpretrain 1.2.0, mmengine 0.10.7, torch 1.13).
"""
import json
import struct
import sys
import warnings

import torch

warnings.filterwarnings('ignore')

from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402
from mmpretrain.utils import register_all_modules  # noqa: E402

# name, loss config (YAML flow text mm parses; Python literal here too),
# target kind: index labels, soft scores (rows sum to 1) or multi-hot.
CASES = [
    ('ce', "{type: CrossEntropyLoss}", 'index'),
    ('ce_weighted', "{type: CrossEntropyLoss, loss_weight: 0.7, "
                    "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25]}", 'index'),
    ('ce_probs', "{type: CrossEntropyLoss}", 'soft'),
    ('ce_soft', "{type: CrossEntropyLoss, use_soft: true}", 'soft'),
    ('ce_soft_weighted', "{type: CrossEntropyLoss, use_soft: true, "
                         "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25]}", 'soft'),
    ('ce_sigmoid', "{type: CrossEntropyLoss, use_sigmoid: true}", 'multi'),
    ('ce_sigmoid_weighted', "{type: CrossEntropyLoss, use_sigmoid: true, "
                            "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25], "
                            "pos_weight: [1.0, 2.0, 0.5, 1.5, 3.0]}", 'multi'),
    ('ls_original', "{type: LabelSmoothLoss, label_smooth_val: 0.1}",
     'index'),
    ('ls_original_nc', "{type: LabelSmoothLoss, label_smooth_val: 0.2, "
                       "num_classes: 5, loss_weight: 1.5}", 'index'),
    ('ls_classy', "{type: LabelSmoothLoss, label_smooth_val: 0.2, "
                  "mode: classy_vision}", 'index'),
    ('ls_multi', "{type: LabelSmoothLoss, label_smooth_val: 0.1, "
                 "mode: multi_label}", 'multi'),
    ('ls_soft_targets', "{type: LabelSmoothLoss, label_smooth_val: 0.1}",
     'soft'),
    ('ls_weighted', "{type: LabelSmoothLoss, label_smooth_val: 0.1, "
                    "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25]}", 'index'),
    ('ls_multi_weighted', "{type: LabelSmoothLoss, label_smooth_val: 0.1, "
                          "mode: multi_label, "
                          "pos_weight: [1.0, 2.0, 0.5, 1.5, 3.0]}", 'multi'),
]


def flow_to_dict(text):
    """The YAML flow text of CASES as a Python dict (no YAML module
    needed: the texts use only names, numbers, booleans and lists)."""
    import re
    t = re.sub(r'([A-Za-z_]\w*)', r'"\1"', text)
    t = t.replace('"true"', 'true').replace('"false"', 'false')
    return json.loads(t)


def st_dump(path, tensors, metadata):
    # torch 1.13 with numpy 2 cannot .numpy(): pack the values instead
    dt = {torch.float32: ('F32', 'f'), torch.int64: ('I64', 'q'),
          torch.uint8: ('U8', 'B')}
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


def samples(labels=None, scores=None):
    n = len(labels) if labels is not None else len(scores)
    out = []
    for i in range(n):
        s = DataSample()
        if labels is not None:
            s.set_gt_label(int(labels[i]))
        if scores is not None:
            s.set_gt_score(scores[i])
        out.append(s)
    return out


def record_model(prefix, cfg, x, y, out, share=None):
    """share: a state_dict whose entries replace the model's (and are not
    written again, to keep the recording small)."""
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    if share:
        model.load_state_dict(share, strict=False)
    for k, v in model.state_dict().items():
        if not share or k not in share:
            out.append((f'{prefix}.sd.{k}', v))
    with torch.no_grad():
        logits = model(x, mode='tensor')
        loss = model(x, samples(labels=y), mode='loss')['loss']
        preds = model(x, samples(labels=y), mode='predict')
    if prefix == 'lenet':
        out += [(f'{prefix}.x', x), (f'{prefix}.y', y)]
    out += [
            (f'{prefix}.logits', logits), (f'{prefix}.loss', loss),
            (f'{prefix}.pred_score',
             torch.stack([p.pred_score for p in preds])),
            (f'{prefix}.pred_label',
             torch.cat([p.pred_label for p in preds]))]
    return model


def main():
    register_all_modules()
    path = sys.argv[1]
    torch.manual_seed(0)
    out = []
    x = torch.randn(4, 1, 32, 32)
    y = torch.tensor([3, 0, 9, 3])
    lenet = record_model('lenet', dict(
        type='ImageClassifier',
        backbone=dict(type='LeNet5', num_classes=10), neck=None,
        head=dict(type='ClsHead',
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0))),
        x, y, out)
    record_model('linear', dict(
        type='ImageClassifier', backbone=dict(type='LeNet5'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=120)),
        x, y, out, share={k: v for k, v in lenet.state_dict().items()
                          if k.startswith('backbone.features.')})

    dp = MODELS.build(dict(type='ClsDataPreprocessor', mean=[33.46],
                           std=[78.87], num_classes=10))
    raw = torch.randint(0, 256, (2, 1, 6, 5), dtype=torch.uint8)
    got = dp({'inputs': [raw[0], raw[1]]}, training=False)['inputs']
    out += [('dp.in', raw), ('dp.out', got)]

    n, c = 6, 5
    scores = torch.randn(n, c)
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    soft = torch.softmax(torch.randn(n, c) * 2, dim=1)
    multi = (torch.rand(n, c) > 0.5).float()
    out += [('loss.scores', scores), ('loss.labels', labels),
            ('loss.soft', soft), ('loss.multi', multi)]
    for name, text, kind in CASES:
        head = MODELS.build(dict(type='ClsHead', loss=flow_to_dict(text)))
        if kind == 'index':
            ds = samples(labels=labels)
        else:
            ds = samples(scores=soft if kind == 'soft' else multi)
        loss = head.loss((scores, ), ds)['loss']
        out.append((f'loss.{name}', loss.reshape(())))
    meta = {'cases': json.dumps([[n, t, k] for n, t, k in CASES]),
            'mmpretrain': __import__('mmpretrain').__version__,
            'torch': torch.__version__}
    st_dump(path, out, meta)


if __name__ == '__main__':
    main()
