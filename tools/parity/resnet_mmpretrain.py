#!/usr/bin/env python3
"""Record mmpretrain's ResNet family on small models for the mmcls suite.

Writes tests/mmcls/mmpretrain_resnet.safetensors, which
tests/mmcls/test_resnet.c replays without mmpretrain. For each case of
CASES (a backbone config, given to mmpretrain's MODELS and, as JSON, to mm's
registry unchanged) it stores, under `<name>.`:

  - `sd.<key>`: the state dict of the model with every parameter and batch
    norm statistic drawn at random (the keys are what mm must load,
    strictly);
  - `x`: the input batch; `eval.<i>`: the outputs in eval mode;
  - `train.<i>`: the outputs in train mode (after model.train(), so
    frozen_stages and norm_eval are in effect) and, for the cases of
    STATS, `after.<key>` every running_mean / running_var after that
    forward.

The case list is in the metadata (`cases`, JSON). Small widths
(base_channels 2) keep the file small. Needs mmpretrain 1.x, e.g.

    /work/venv-bench/bin/python tools/parity/resnet_mmpretrain.py \\
        tests/mmcls/mmpretrain_resnet.safetensors

(recorded with mmpretrain 1.2.0, mmengine 0.10.7, torch 1.13).
"""
import json
import struct
import sys
import warnings

import torch

warnings.filterwarnings('ignore')

from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.utils import register_all_modules  # noqa: E402

SMALL = {'stem_channels': 4, 'base_channels': 2}

# name, backbone config, input shape
CASES = [
    ('r18', dict(type='ResNet', depth=18, out_indices=[0, 1, 2, 3], **SMALL),
     [2, 3, 32, 32]),
    ('r18_frozen', dict(type='ResNet', depth=18, frozen_stages=2,
                        out_indices=[1, 3], **SMALL), [2, 3, 32, 32]),
    ('r34_norm_eval', dict(type='ResNet', depth=34, norm_eval=True,
                           **SMALL), [2, 3, 32, 32]),
    ('r50_caffe', dict(type='ResNet', depth=50, style='caffe',
                       strides=[1, 2, 2, 1], dilations=[1, 1, 1, 2],
                       out_indices=[2, 3], **SMALL), [2, 3, 32, 32]),
    ('v1c_3stages', dict(type='ResNetV1c', depth=50, num_stages=3,
                         strides=[1, 2, 2], dilations=[1, 1, 1],
                         out_indices=[2], **SMALL), [2, 3, 32, 32]),
    ('v1d', dict(type='ResNetV1d', depth=50, out_indices=[0, 1, 2, 3],
                 frozen_stages=0, **SMALL), [2, 3, 36, 36]),
    ('resnext', dict(type='ResNeXt', depth=50, groups=2, width_per_group=1,
                     **SMALL), [2, 3, 32, 32]),
    ('seresnet', dict(type='SEResNet', depth=50, se_ratio=4,
                      out_indices=[0, 3], **SMALL), [2, 3, 32, 32]),
    ('seresnext', dict(type='SEResNeXt', depth=50, groups=2,
                       width_per_group=1, **SMALL), [2, 3, 32, 32]),
    ('cifar', dict(type='ResNet_CIFAR', depth=18, out_indices=[0, 3],
                   **SMALL), [2, 3, 16, 16]),
    ('gn_deep_avg', dict(type='ResNet', depth=18, deep_stem=True,
                         avg_down=True, in_channels=1,
                         norm_cfg=dict(type='GN', num_groups=2), **SMALL),
     [2, 1, 32, 32]),
    ('wide', dict(type='ResNet', depth=50, expansion=2, stem_channels=4,
                  base_channels=2), [2, 3, 32, 32]),
]


# the cases whose running statistics after the train-mode forward are kept
STATS = ('r18', 'r18_frozen', 'r34_norm_eval', 'v1d')


def st_dump(path, tensors, metadata):
    # torch 1.13 with numpy 2 cannot .numpy(): pack the values instead
    dt = {torch.float32: ('F32', 'f'), torch.int64: ('I64', 'q')}
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


def randomize(model, gen):
    """Every weight at the scale of a trained net, BN statistics away from
    0 / 1, so that each parameter and buffer matters."""
    with torch.no_grad():
        for _, p in model.named_parameters():
            fan = p[0].numel() if p.dim() > 1 else 4
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan) ** 0.5
                    + (0.8 if p.dim() == 1 else 0.0))
        for n, b in model.named_buffers():
            if n.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.1)
            elif n.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)


def main():
    register_all_modules()
    gen = torch.Generator().manual_seed(2024)
    tensors, meta = [], []
    for name, cfg, shape in CASES:
        model = MODELS.build(dict(cfg))
        randomize(model, gen)
        x = torch.randn(shape, generator=gen)
        for k, v in model.state_dict().items():
            tensors.append((f'{name}.sd.{k}', v.clone()))
        tensors.append((f'{name}.x', x))
        model.eval()
        with torch.no_grad():
            outs = model(x)
        for i, o in enumerate(outs):
            tensors.append((f'{name}.eval.{i}', o))
        model.train()
        with torch.no_grad():
            outs = model(x)
        for i, o in enumerate(outs):
            tensors.append((f'{name}.train.{i}', o))
        for k, v in model.state_dict().items():
            if name in STATS and (k.endswith('running_mean') or
                                  k.endswith('running_var')):
                tensors.append((f'{name}.after.{k}', v.clone()))
        meta.append({'name': name, 'config': cfg, 'outputs': len(outs)})
    st_dump(sys.argv[1], tensors, {'cases': json.dumps(meta)})


if __name__ == '__main__':
    main()
