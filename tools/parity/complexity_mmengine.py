#!/usr/bin/env python3
"""What `mm analyze complexity` must print, from mmengine itself.

For each case of CASES, builds the same network in PyTorch (mmpretrain's
LeNet5 classifier, or torch.nn layers named as mm's Sequential names them),
runs mmengine's get_model_complexity_info as mmpretrain's
tools/analysis_tools/get_flops.py does (eval mode; extract_feat for a
classifier) and writes the table and the totals block to
tests/e2e/complexity/<case>.expected, which tests/e2e/cli_analyze.sh
compares with mm's output byte for byte.

    COLUMNS=200 /work/venv-bench/bin/python tools/parity/complexity_mmengine.py

(COLUMNS keeps rich from wrapping the table; mm never wraps it.) Needs
mmengine, torch and, for the LeNet5 case, mmpretrain 1.2.0.
"""
import os
import sys
import warnings

import torch
from torch import nn

warnings.filterwarnings('ignore')

from mmengine.analysis import get_model_complexity_info  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'e2e',
                   'complexity')


class SelfAttention(nn.MultiheadAttention):
    """torch's MultiheadAttention called with one input, as mm's is."""

    def forward(self, x):
        return super().forward(x, x, x)[0]


def classifier(cfg):
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg)
    model.forward = model.extract_feat
    return model


def lenet():
    return classifier(dict(
        type='ImageClassifier', backbone=dict(type='LeNet5', num_classes=10),
        neck=None, head=dict(type='ClsHead', loss=dict(
            type='CrossEntropyLoss', loss_weight=1.0))))


def resnet50():
    """mmpretrain's configs/_base_/models/resnet50.py."""
    return classifier(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=50, num_stages=4,
                      out_indices=(3, ), style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                  topk=(1, 5))))


def convnet():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, groups=2, bias=False),
        nn.BatchNorm2d(32, affine=False), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def norms():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8),
        nn.InstanceNorm2d(8, affine=True),
        nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(8, 8, 1),
        nn.Upsample(scale_factor=2, mode='bilinear'),
        nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.GroupNorm(1, 4, affine=False))


def attention():
    return nn.Sequential(
        nn.Flatten(2), nn.LayerNorm(64), SelfAttention(64, 4,
                                                        batch_first=True),
        nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 64),
        nn.LayerNorm(64, elementwise_affine=False))


# name, builder, input shape (C, H, W); the mm side is the config beside
# the expected file (lenet: configs/mmcls/lenet/lenet5_mnist.yaml,
# resnet50: configs/_base_/models/resnet50.yaml)
CASES = [
    ('lenet', lenet, (1, 32, 32)),
    ('resnet50', resnet50, (3, 224, 224)),
    ('convnet', convnet, (3, 16, 16)),
    ('norms', norms, (3, 16, 16)),
    ('attention', attention, (4, 8, 8)),
]


def main():
    torch.manual_seed(0)
    for name, build, shape in CASES:
        model = build()
        model.eval()
        r = get_model_complexity_info(model, shape, show_arch=False)
        split = '=' * 30
        text = (r['out_table'].strip('\n') + '\n\n' +
                f'{split}\nInput shape: {shape}\nFlops: {r["flops_str"]}\n'
                f'Params: {r["params_str"]}\n'
                f'Activation: {r["activations_str"]}\n{split}\n')
        if name in ('lenet', 'resnet50'):
            text += '!!!Only the backbone network is counted in FLOPs ' \
                    'analysis.\n'
        with open(os.path.join(OUT, name + '.expected'), 'w') as f:
            f.write(text)
        print(name, r['flops'], r['params'], r['activations'],
              file=sys.stderr)


if __name__ == '__main__':
    main()
