#!/usr/bin/env python3
"""Parity of the mmcls plugin with PyTorch: LeNet-5 training steps and the
classification losses.

Builds mmpretrain's LeNet-5 ImageClassifier (backbone features/classifier
exactly as mmpretrain/models/backbones/lenet.py, ClsHead with
CrossEntropyLoss) in plain torch from a seeded random init, hands its
state_dict, a batch and labels to tests/parity/mmcls_driver (mm, through the
mmcls plugin) and checks, against torch:

  - the logits (mode 'tensor') and the loss (mode 'loss');
  - the gradient of every parameter;
  - two SGD steps (lr 0.01, momentum 0.9, weight_decay 1e-4: the LeNet-5
    recipe): the loss before each step and every parameter after it;
  - CrossEntropyLoss (class_weight, probability targets, use_soft,
    use_sigmoid with pos_weight) and LabelSmoothLoss (original,
    classy_vision, multi_label) through ClsHead, written here as the torch
    formulas of mmpretrain's definitions (sum over the batch / batch size):
    values and gradients in the scores;
  - GlobalAveragePooling + LinearClsHead: logits, loss, fc gradients.

    mmcls_torch.py --driver build/tests/parity/mmcls_driver \\
        --plugin build/plugins/mmcls.so [--seed N]

Prints one line per check and exits 1 on any mismatch; the seed is printed
(fresh each run unless given).
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print('skipped: cannot import torch (apt-get install python3-torch)')
    sys.exit(77)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ---- safetensors (values packed by hand: no numpy needed) ----------------

CODES = {torch.float32: ('F32', 'f'), torch.int64: ('I64', 'q')}
FROM_CODE = {'F32': (torch.float32, 'f', 4), 'I64': (torch.int64, 'q', 8)}


def st_write(path, tensors, metadata):
    header, blobs, at = {'__metadata__': metadata}, [], 0
    for name, t in tensors:
        code, fmt = CODES[t.dtype]
        vals = t.detach().contiguous().reshape(-1).tolist()
        raw = struct.pack('<%d%s' % (len(vals), fmt), *vals)
        header[name] = {'dtype': code, 'shape': list(t.shape),
                        'data_offsets': [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def st_read(path):
    buf = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n])
    header.pop('__metadata__', None)
    data, out = buf[8 + n:], {}
    for name, e in header.items():
        dt, fmt, size = FROM_CODE[e['dtype']]
        b, end = e['data_offsets']
        vals = struct.unpack('<%d%s' % ((end - b) // size, fmt), data[b:end])
        out[name] = torch.tensor(vals, dtype=dt).reshape(e['shape'])
    return out


# ---- mmpretrain's definitions, in torch ----------------------------------

class LeNet5(nn.Module):
    """mmpretrain/models/backbones/lenet.py."""

    def __init__(self, num_classes=-1):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, stride=1), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5, stride=1), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(16, 120, kernel_size=5, stride=1), nn.Tanh())
        if self.num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x):
        x = self.features(x)
        if self.num_classes > 0:
            x = self.classifier(x.squeeze())
        return (x, )


class Classifier(nn.Module):
    """ImageClassifier(LeNet5, neck None, ClsHead(CrossEntropyLoss))."""

    def __init__(self):
        super().__init__()
        self.backbone = LeNet5(num_classes=10)

    def forward(self, x):
        return self.backbone(x)[-1]  # ClsHead.pre_logits: feats[-1]

    def loss(self, x, y):
        cls_score = self(x)
        return F.cross_entropy(cls_score, y, reduction='none').sum() / len(y)


def one_hot(labels, c):
    return F.one_hot(labels, c).float()


def ce_loss(s, t, kind, use_soft=False, use_sigmoid=False, class_weight=None,
            pos_weight=None, reduction='mean'):
    """mmpretrain's CrossEntropyLoss inside ClsHead (avg_factor = N)."""
    n = s.shape[0]
    cw = None if class_weight is None else torch.tensor(class_weight)
    if use_sigmoid:
        w = None if cw is None else cw.repeat(n, 1)
        pw = None if pos_weight is None else torch.tensor(pos_weight)
        loss = F.binary_cross_entropy_with_logits(
            s, t, weight=w, pos_weight=pw, reduction='none')
    elif use_soft:
        loss = -t * F.log_softmax(s, dim=-1)
        if cw is not None:
            loss = loss * cw
        loss = loss.sum(dim=-1)
    else:
        loss = F.cross_entropy(s, t, weight=cw, reduction='none')
    assert reduction == 'mean'
    return loss.sum() / n


def label_smooth(s, t, kind, label_smooth_val, mode='original',
                 num_classes=None, loss_weight=1.0, use_sigmoid=None,
                 class_weight=None, pos_weight=None):
    """mmpretrain 1.2's LabelSmoothLoss inside ClsHead."""
    c = s.shape[1]
    eps = label_smooth_val
    if mode == 'classy_vision':
        eps = eps / (1 + eps)
    oh = one_hot(t, c) if kind == 'index' else t.float()
    if mode == 'multi_label':
        smooth = torch.full_like(oh, eps).masked_fill(oh > 0, 1 - eps)
        sig = True if use_sigmoid is None else use_sigmoid
    else:
        smooth = oh * (1 - eps) + eps / c
        sig = False if use_sigmoid is None else use_sigmoid
    return loss_weight * ce_loss(s, smooth, 'soft', use_soft=not sig,
                                 use_sigmoid=sig, class_weight=class_weight,
                                 pos_weight=pos_weight)


CW = [0.5, 2.0, 1.0, 3.0, 0.25]
PW = [1.0, 2.0, 0.5, 1.5, 3.0]
# name, loss YAML for mm, target kind, the torch formula
CASES = [
    ('ce', "{type: CrossEntropyLoss}", 'index',
     lambda s, t: ce_loss(s, t, 'index')),
    ('ce_weighted', "{type: CrossEntropyLoss, loss_weight: 0.7, "
     "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25]}", 'index',
     lambda s, t: 0.7 * ce_loss(s, t, 'index', class_weight=CW)),
    ('ce_probs', "{type: CrossEntropyLoss}", 'soft',
     lambda s, t: ce_loss(s, t, 'soft')),
    ('ce_soft', "{type: CrossEntropyLoss, use_soft: true}", 'soft',
     lambda s, t: ce_loss(s, t, 'soft', use_soft=True)),
    ('ce_soft_weighted', "{type: CrossEntropyLoss, use_soft: true, "
     "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25]}", 'soft',
     lambda s, t: ce_loss(s, t, 'soft', use_soft=True, class_weight=CW)),
    ('ce_sigmoid', "{type: CrossEntropyLoss, use_sigmoid: true}", 'multi',
     lambda s, t: ce_loss(s, t, 'multi', use_sigmoid=True)),
    ('ce_sigmoid_weighted', "{type: CrossEntropyLoss, use_sigmoid: true, "
     "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25], "
     "pos_weight: [1.0, 2.0, 0.5, 1.5, 3.0]}", 'multi',
     lambda s, t: ce_loss(s, t, 'multi', use_sigmoid=True, class_weight=CW,
                          pos_weight=PW)),
    ('ls_original', "{type: LabelSmoothLoss, label_smooth_val: 0.1}",
     'index', lambda s, t: label_smooth(s, t, 'index', 0.1)),
    ('ls_original_nc', "{type: LabelSmoothLoss, label_smooth_val: 0.2, "
     "num_classes: 5, loss_weight: 1.5}", 'index',
     lambda s, t: label_smooth(s, t, 'index', 0.2, loss_weight=1.5)),
    ('ls_classy', "{type: LabelSmoothLoss, label_smooth_val: 0.2, "
     "mode: classy_vision}", 'index',
     lambda s, t: label_smooth(s, t, 'index', 0.2, mode='classy_vision')),
    ('ls_multi', "{type: LabelSmoothLoss, label_smooth_val: 0.1, "
     "mode: multi_label}", 'multi',
     lambda s, t: label_smooth(s, t, 'multi', 0.1, mode='multi_label')),
    ('ls_soft_targets', "{type: LabelSmoothLoss, label_smooth_val: 0.1}",
     'soft', lambda s, t: label_smooth(s, t, 'soft', 0.1)),
    ('ls_weighted', "{type: LabelSmoothLoss, label_smooth_val: 0.1, "
     "class_weight: [0.5, 2.0, 1.0, 3.0, 0.25]}", 'index',
     lambda s, t: label_smooth(s, t, 'index', 0.1, class_weight=CW)),
]

MODEL_YAML = """model:
  type: ImageClassifier
  backbone: {type: LeNet5, num_classes: 10}
  head:
    type: ClsHead
    loss: {type: CrossEntropyLoss, loss_weight: 1.0}
"""
LINEAR_YAML = "head: {type: LinearClsHead, num_classes: 5, in_channels: 16}\n"
SGD = {'lr': 0.01, 'momentum': 0.9, 'weight_decay': 1e-4}


class Checker:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def close(self, name, got, want, atol, rtol):
        if got is None:
            print(f'FAIL {name}: mm gave nothing')
            self.failed += 1
            return
        got = got.double().reshape(want.shape)
        want = want.detach().double()
        err = (got - want).abs()
        bound = atol + rtol * want.abs()
        if bool((err <= bound).all()):
            self.passed += 1
            print(f'ok   {name} (max abs err {float(err.max()):.2e})')
        else:
            self.failed += 1
            i = int((err - bound).argmax())
            print(f'FAIL {name}: element {i}: mm {float(got.reshape(-1)[i])}'
                  f' torch {float(want.reshape(-1)[i])}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--driver', required=True)
    ap.add_argument('--plugin', required=True)
    ap.add_argument('--seed', type=int)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    print(f'seed {seed}')
    torch.manual_seed(seed)

    model = Classifier()
    n, c = 6, 5
    x = torch.randn(8, 1, 32, 32)
    y = torch.randint(0, 10, (8, ))
    scores = torch.randn(n, c)
    labels = torch.randint(0, c, (n, ))
    soft = torch.softmax(2 * torch.randn(n, c), dim=1)
    multi = (torch.rand(n, c) > 0.5).float()
    feat = torch.randn(n, 16, 3, 3)
    fc = nn.Linear(16, c)
    tensors = [('sd.' + k, v) for k, v in model.state_dict().items()]
    tensors += [('x', x), ('y', y), ('scores', scores), ('labels', labels),
                ('soft', soft), ('multi', multi), ('feat', feat),
                ('fc.weight', fc.weight), ('fc.bias', fc.bias)]
    meta = {'model': MODEL_YAML, 'linear': LINEAR_YAML,
            'sgd': json.dumps(SGD),
            'cases': json.dumps([[nm, t, k] for nm, t, k, _ in CASES])}
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, 'in.st'), os.path.join(d, 'out.st')
        st_write(src, tensors, meta)
        r = subprocess.run([a.driver, a.plugin, src, dst])
        if r.returncode != 0:
            print(f'FAIL mmcls_driver exited {r.returncode}')
            return 1
        got = st_read(dst)

    ck = Checker()
    # tensor and loss modes, gradients
    logits = model(x)
    ck.close('lenet5 logits', got.get('logits'), logits, 1e-5, 1e-4)
    loss = model.loss(x, y)
    ck.close('lenet5 loss', got.get('loss'), loss, 1e-6, 1e-5)
    loss.backward()
    for k, p in model.named_parameters():
        ck.close(f'lenet5 grad {k}', got.get('grad.' + k), p.grad, 1e-6,
                 1e-4)
    # two SGD steps
    opt = torch.optim.SGD(model.parameters(), **SGD)
    for step in (1, 2):
        if step > 1:
            opt.zero_grad()
            loss = model.loss(x, y)
            loss.backward()
        ck.close(f'sgd step {step} loss', got.get(f'step{step}.loss'), loss,
                 1e-6, 1e-5)
        opt.step()
        for k, p in model.named_parameters():
            ck.close(f'sgd step {step} {k}', got.get(f'step{step}.{k}'), p,
                     1e-6, 1e-4)
    # losses
    targets = {'index': labels, 'soft': soft, 'multi': multi}
    for name, _, kind, fn in CASES:
        s = scores.clone().requires_grad_(True)
        v = fn(s, targets[kind])
        v.backward()
        ck.close(f'loss {name}', got.get(f'case.{name}'), v, 1e-6, 1e-5)
        ck.close(f'loss {name} grad', got.get(f'case.{name}.grad'), s.grad,
                 1e-7, 1e-5)
    # GlobalAveragePooling + LinearClsHead
    pooled = F.adaptive_avg_pool2d(feat, 1).view(n, -1)
    lg = fc(pooled)
    ck.close('linear logits', got.get('linear.logits'), lg, 1e-6, 1e-5)
    lv = ce_loss(lg, labels, 'index')
    lv.backward()
    ck.close('linear loss', got.get('linear.loss'), lv, 1e-6, 1e-5)
    ck.close('linear grad fc.weight', got.get('linear.grad.fc.weight'),
             fc.weight.grad, 1e-7, 1e-5)
    ck.close('linear grad fc.bias', got.get('linear.grad.fc.bias'),
             fc.bias.grad, 1e-7, 1e-5)
    print(f'{ck.passed} passed, {ck.failed} failed (seed {seed})')
    return 1 if ck.failed else 0


if __name__ == '__main__':
    sys.exit(main())
