#!/usr/bin/env python3
"""Record mmpretrain's PreciseBNHook statistics for the mmcls suite.

Writes tests/mmcls/mmpretrain_precise_bn.safetensors, which
tests/mmcls/test_precise_bn.c replays without mmpretrain:

  - `state_dict.<key>`: a small mmpretrain ImageClassifier (the first
    three stages of a ResNet-18 of base_channels 2 on one-channel 48x48
    images, frozen_stages 1, GAP, LinearClsHead) with every parameter and
    batch norm statistic drawn at random; mm loads the file as `load_from`
    (the key names are mm's);
  - `images` (12, 48, 48) u8 and `labels` (12,) i64: the data, which the
    test writes as MNIST idx files and reads in order, 4 images a batch;
  - `after<k>.<key>`: every running_mean, running_var and
    num_batches_tracked after mmpretrain's update_bn_stats (the function
    PreciseBNHook calls) over the first k batches, for k = 3
    (num_samples 12) and k = 2 (num_samples 8), each from the random state.

Needs mmpretrain 1.x, e.g.

    /work/venv-bench/bin/python tools/parity/precise_bn_mmpretrain.py \\
        tests/mmcls/mmpretrain_precise_bn.safetensors

(recorded with mmpretrain 1.2.0, mmengine 0.10.7, torch 1.13).
"""
import copy
import json
import os
import sys
import warnings

import torch

warnings.filterwarnings('ignore')

from mmpretrain.engine.hooks.precise_bn_hook import update_bn_stats  # noqa
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402
from mmpretrain.utils import register_all_modules  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_common import st_write  # noqa: E402

# The model as tests/mmcls/test_precise_bn.c writes it in YAML.
MODEL = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[33.46],
                           std=[78.87], num_classes=10),
    backbone=dict(type='ResNet', depth=18, in_channels=1, stem_channels=4,
                  base_channels=2, num_stages=3, strides=[1, 2, 2],
                  dilations=[1, 1, 1], out_indices=[2], frozen_stages=1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=8,
              loss=dict(type='CrossEntropyLoss')))
N, BATCH, SIZE = 12, 4, 48


class Loader:
    """What update_bn_stats reads of a DataLoader: batch_size, len, iter;
    batches as pseudo_collate gives them after MNIST + PackInputs."""
    batch_size = BATCH

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return N // BATCH

    def __iter__(self):
        for b in range(len(self)):
            idx = range(b * BATCH, (b + 1) * BATCH)
            yield dict(inputs=[self.images[i][None].clone() for i in idx],
                       data_samples=[DataSample().set_gt_label(
                           int(self.labels[i])) for i in idx])


def main():
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(MODEL)
    model.init_weights()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                t.fill_(7)
            elif name.endswith('running_var'):
                t.uniform_(0.5, 2.0)
            else:
                t.normal_(0.0, 0.5)
    model.train()  # frozen_stages: the stem and layer1 stay in eval mode
    images = torch.randint(0, 256, (N, SIZE, SIZE), dtype=torch.uint8)
    labels = torch.randint(0, 10, (N,), dtype=torch.int64)
    out = [('images', images), ('labels', labels)]
    out += [('state_dict.' + k, v.clone())
            for k, v in model.state_dict().items()]
    loader = Loader(images, labels)
    for k, num_samples in ((3, 12), (2, 8)):
        m = copy.deepcopy(model)
        update_bn_stats(m, loader, num_samples, logger='silent')
        out += [('after%d.%s' % (k, name), t.clone())
                for name, t in m.state_dict().items()
                if name.rsplit('.', 1)[-1] in ('running_mean', 'running_var',
                                               'num_batches_tracked')]
        for mod in m.modules():  # the momenta are restored
            if isinstance(mod, torch.nn.BatchNorm2d):
                assert mod.momentum == 0.1
    st_write(sys.argv[1], out, {'model': json.dumps(MODEL)})


if __name__ == '__main__':
    main()
