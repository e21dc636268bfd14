#!/usr/bin/env python3
"""Record what mmpretrain 1.2.0's own transforms (RandomResizedCrop,
RandomCrop, EfficientNetCenterCrop, EfficientNetRandomCrop, ResizeEdge,
RandomErasing, ColorJitter, Lighting)
and mmcv's Resize with backend='pillow' do to the fixtures in
tests/fixtures/image/, random draws included, for the `image` suite
(tests/image/test_cls_transforms.c compares mm's mmcls transforms with it).

    /work/venv-bench/bin/python tools/parity/transforms_mmpretrain.py

Needs mmpretrain 1.2.0, mmcv 2.x (mmcv-lite), opencv-python and Pillow.

mm draws its random numbers from a Philox generator, not numpy's Mersenne
Twister. So that the recording pins mmpretrain's random choices too, this
script replaces numpy.random's uniform, randint, rand, permutation and
normal by the same formulas over mm's stream (Philox4x32-10 keyed by the
seed, one block per draw, 53 bits - core/base/rng.c and the draw helpers of
plugins/mmcls/processing.c), then runs mmpretrain's unchanged code. A case
is `mm_manual_seed(seed)`, then the pipeline.

Writes tests/image/mmpretrain_expected.json.
"""
import json
import math
import os

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile, Resize
from mmpretrain.datasets.transforms import (ColorJitter,
                                            EfficientNetCenterCrop,
                                            EfficientNetRandomCrop, Lighting,
                                            RandomCrop, RandomErasing,
                                            RandomResizedCrop, ResizeEdge)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIX = os.path.join(ROOT, 'tests', 'fixtures', 'image')
OUT = os.path.join(ROOT, 'tests', 'image', 'mmpretrain_expected.json')

M = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + 0x9E3779B9) & M
            k1 = (k1 + 0xBB67AE85) & M
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M, p1 & M, \
            ((p0 >> 32) ^ c3 ^ k1) & M, p0 & M
    return c0, c1, c2, c3


class Stream:
    """mm's data generator after mm_manual_seed(seed)."""

    def __init__(self, seed):
        self.seed, self.offset = seed, 0

    def draw(self):
        ctr = self.offset
        self.offset += 1
        o = philox4x32_10((ctr & M, ctr >> 32, 0, 0),
                          (self.seed & M, self.seed >> 32))
        return (((o[0] >> 5) << 26) | (o[1] >> 6)) / 9007199254740992.0


STREAM = Stream(0)


def _fill(size, one):
    if size is None:
        return one(0)
    size = (size,) if isinstance(size, int) else tuple(size)
    n = int(np.prod(size))
    return np.array([one(i) for i in range(n)]).reshape(size)


def uniform(low=0.0, high=1.0, size=None):
    low, high = float(low), float(high)
    return _fill(size, lambda i: low + (high - low) * STREAM.draw())


def randint(low, high=None, size=None, dtype=int):
    if high is None:
        low, high = 0, low
    low, high = int(low), int(high)

    def one(i):
        v = low + math.floor(STREAM.draw() * (high - low))
        return min(v, high - 1)
    return _fill(size, one)


def rand(*shape):
    return _fill(shape or None, lambda i: STREAM.draw())


def permutation(n):
    a = list(range(n))
    for i in range(n - 1, 0, -1):
        k = randint(0, i + 1)
        a[i], a[k] = a[k], a[i]
    return np.array(a)


def normal(loc=0.0, scale=1.0, size=None):
    size = (size,) if isinstance(size, int) else tuple(size)
    locs = np.broadcast_to(np.asarray(loc, dtype=np.float64), size).reshape(-1)
    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64),
                             size).reshape(-1)

    def one(i):
        u1, u2 = STREAM.draw(), STREAM.draw()
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        return locs[i] + scales[i] * z
    return _fill(size, one)


np.random.uniform = uniform
np.random.randint = randint
np.random.rand = rand
np.random.permutation = permutation
np.random.normal = normal


def arr(a):
    a = np.asarray(a)
    kind = {np.dtype('uint8'): 'u8', np.dtype('float32'): 'f32'}[a.dtype]
    if kind == 'u8':
        return {'shape': list(a.shape), 'dtype': kind,
                'hex': a.tobytes().hex()}
    return {'shape': list(a.shape), 'dtype': kind,
            'data': [float('%.7g' % x) for x in a.reshape(-1)]}


def plain(v):
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


BUILD = {'RandomResizedCrop': RandomResizedCrop, 'ResizeEdge': ResizeEdge,
         'RandomCrop': RandomCrop, 'Resize': Resize,
         'EfficientNetCenterCrop': EfficientNetCenterCrop,
         'RandomErasing': RandomErasing, 'ColorJitter': ColorJitter,
         'EfficientNetRandomCrop': EfficientNetRandomCrop,
         'Lighting': Lighting}

# pycls' ImageNet PCA (mmpretrain's regnet configs), BGR order
EIGVAL = [0.2175, 0.0188, 0.0045]
EIGVEC = [[-0.5836, -0.6948, 0.4203], [-0.5808, -0.0045, -0.814],
          [-0.5675, 0.7192, 0.4009]]

MEAN = [103.53, 116.28, 123.675]
STD = [57.375, 57.12, 58.395]
# (name, fixture, seed, pipeline[, LoadImageFromFile options])
CASES = [
    ('rrc_default', 'chelsea.png', 1, [dict(type='RandomResizedCrop',
                                            scale=24)]),
    ('rrc_seed2', 'chelsea.png', 2, [dict(type='RandomResizedCrop',
                                          scale=24)]),
    ('rrc_seed3_hw', 'chelsea.png', 3,
     [dict(type='RandomResizedCrop', scale=(20, 28))]),
    ('rrc_bicubic', 'chelsea.png', 4,
     [dict(type='RandomResizedCrop', scale=36, interpolation='bicubic')]),
    ('rrc_area_ratio', 'chelsea.png', 5,
     [dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.3, 0.6),
           aspect_ratio_range=(0.5, 2.0))]),
    ('rrc_fallback_wide', 'chelsea.png', 6,
     [dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.99, 1.0),
           aspect_ratio_range=(2.5, 3.0))]),
    ('rrc_fallback_tall', 'chelsea.png', 7,
     [dict(type='RandomResizedCrop', scale=16, max_attempts=0,
           aspect_ratio_range=(0.2, 0.5))]),
    ('rrc_fallback_whole', 'chelsea.png', 8,
     [dict(type='RandomResizedCrop', scale=16, max_attempts=0)]),
    ('rrc_gray', 'camera.png', 9,
     [dict(type='RandomResizedCrop', scale=12, interpolation='nearest')],
     {'color_type': 'grayscale'}),
    ('rrc_float32', 'chelsea.png', 10,
     [dict(type='RandomResizedCrop', scale=20)], {'to_float32': True}),
    ('crop_cifar', 'chelsea.png', 40,
     [dict(type='RandomCrop', crop_size=32, padding=4)]),
    ('crop_hw', 'chelsea.png', 41, [dict(type='RandomCrop', crop_size=(20, 30))]),
    ('crop_exact', 'chelsea.png', 42, [dict(type='RandomCrop', crop_size=(32, 40))]),
    ('crop_larger', 'chelsea.png', 43, [dict(type='RandomCrop', crop_size=50)]),
    ('crop_pad_pair_val', 'chelsea.png', 44,
     [dict(type='RandomCrop', crop_size=30, padding=(3, 5), pad_val=7)]),
    ('crop_pad_four_tuple_val', 'chelsea.png', 45,
     [dict(type='RandomCrop', crop_size=30, padding=(1, 2, 3, 4),
           pad_val=(9, 8, 7))]),
    ('crop_if_needed_reflect', 'chelsea.png', 46,
     [dict(type='RandomCrop', crop_size=(45, 47), pad_if_needed=True,
           padding_mode='reflect')]),
    ('crop_if_needed_symmetric', 'camera.png', 47,
     [dict(type='RandomCrop', crop_size=(40, 70), pad_if_needed=True,
           padding_mode='symmetric')], {'color_type': 'grayscale'}),
    ('crop_if_needed_edge', 'chelsea.png', 48,
     [dict(type='RandomCrop', crop_size=41, pad_if_needed=True,
           padding_mode='edge')]),
    ('crop_float32', 'chelsea.png', 49,
     [dict(type='RandomCrop', crop_size=16, padding=2)],
     {'to_float32': True}),
    ('effnet_center', 'chelsea.png', 0,
     [dict(type='EfficientNetCenterCrop', crop_size=24)]),
    ('effnet_center_pad0', 'camera.png', 0,
     [dict(type='EfficientNetCenterCrop', crop_size=17, crop_padding=0,
           interpolation='bilinear')], {'color_type': 'grayscale'}),
    ('effnet_center_big', 'chelsea.png', 0,
     [dict(type='EfficientNetCenterCrop', crop_size=50, crop_padding=7)]),
    ('rrc_pillow', 'chelsea.png', 50,
     [dict(type='RandomResizedCrop', scale=24, backend='pillow')]),
    ('rrc_pillow_bicubic_up', 'chelsea.png', 51,
     [dict(type='RandomResizedCrop', scale=(45, 52), backend='pillow',
           interpolation='bicubic')]),
    ('rrc_pillow_lanczos_gray', 'camera.png', 52,
     [dict(type='RandomResizedCrop', scale=9, backend='pillow',
           interpolation='lanczos')], {'color_type': 'grayscale'}),
    ('resize_edge_pillow_bicubic', 'chelsea.png', 0,
     [dict(type='ResizeEdge', scale=19, backend='pillow',
           interpolation='bicubic')]),
    ('resize_edge_pillow_up', 'chelsea.png', 0,
     [dict(type='ResizeEdge', scale=70, backend='pillow')]),
    ('resize_edge_pillow_box', 'camera.png', 0,
     [dict(type='ResizeEdge', scale=11, edge='long', backend='pillow',
           interpolation='box')], {'color_type': 'grayscale'}),
    ('resize_edge_pillow_hamming', 'chelsea.png', 0,
     [dict(type='ResizeEdge', scale=32, edge='width', backend='pillow',
           interpolation='hamming')]),
    ('effnet_center_pillow', 'chelsea.png', 0,
     [dict(type='EfficientNetCenterCrop', crop_size=21, backend='pillow')]),
    # mmcv's (core) Resize with Pillow's resampling (imagenet_bs64_swin_384)
    ('pillow_resize_bicubic', 'chelsea.png', 0,
     [dict(type='Resize', scale=50, backend='pillow',
           interpolation='bicubic')]),
    ('pillow_resize_keep_ratio', 'chelsea.png', 0,
     [dict(type='Resize', scale=(20, 30), keep_ratio=True,
           backend='pillow')]),
    ('pillow_resize_gray_lanczos', 'camera.png', 0,
     [dict(type='Resize', scale=(17, 41), backend='pillow',
           interpolation='lanczos')], {'color_type': 'grayscale'}),
    ('resize_edge_short', 'chelsea.png', 0,
     [dict(type='ResizeEdge', scale=20)]),
    ('resize_edge_long', 'chelsea.png', 0,
     [dict(type='ResizeEdge', scale=50, edge='long')]),
    ('resize_edge_width', 'camera.png', 0,
     [dict(type='ResizeEdge', scale=13, edge='width',
           interpolation='bicubic')], {'color_type': 'grayscale'}),
    ('resize_edge_height', 'chelsea.png', 0,
     [dict(type='ResizeEdge', scale=45, edge='height',
           interpolation='nearest')]),
    ('erasing_const', 'chelsea.png', 11,
     [dict(type='RandomErasing', erase_prob=1.0)]),
    ('erasing_const_color', 'chelsea.png', 12,
     [dict(type='RandomErasing', erase_prob=1.0, min_area_ratio=0.1,
           max_area_ratio=0.3, aspect_range=0.5, fill_color=[10, 200, 30])]),
    ('erasing_rand', 'chelsea.png', 13,
     [dict(type='RandomErasing', erase_prob=1.0, mode='rand')]),
    ('erasing_rand_std', 'chelsea.png', 14,
     [dict(type='RandomErasing', erase_prob=1.0, mode='rand',
           min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=MEAN,
           fill_std=STD)]),
    ('erasing_whole', 'chelsea.png', 15,
     [dict(type='RandomErasing', erase_prob=1.0, min_area_ratio=1.0,
           max_area_ratio=1.0, aspect_range=(1.0, 1.0))]),
    ('erasing_prob', 'chelsea.png', 16,
     [dict(type='RandomErasing', erase_prob=0.25)]),
    ('erasing_float32', 'chelsea.png', 17,
     [dict(type='RandomErasing', erase_prob=1.0, mode='rand')],
     {'to_float32': True}),
    ('jitter_brightness', 'chelsea.png', 21,
     [dict(type='ColorJitter', brightness=0.4)]),
    ('jitter_brightness_up', 'chelsea.png', 22,
     [dict(type='ColorJitter', brightness=(1.5, 1.9))]),
    ('jitter_contrast', 'chelsea.png', 23,
     [dict(type='ColorJitter', contrast=0.8)]),
    ('jitter_contrast_up', 'chelsea.png', 24,
     [dict(type='ColorJitter', contrast=(1.6, 2.0))]),
    ('jitter_saturation', 'chelsea.png', 25,
     [dict(type='ColorJitter', saturation=0.9)]),
    ('jitter_saturation_up', 'logo.png', 26,
     [dict(type='ColorJitter', saturation=(2.0, 3.0))]),
    ('jitter_hue_pos', 'chelsea.png', 27,
     [dict(type='ColorJitter', hue=(0.1, 0.4))]),
    ('jitter_hue_neg', 'chelsea.png', 28,
     [dict(type='ColorJitter', hue=(-0.4, -0.1))]),
    ('jitter_all', 'chelsea.png', 29,
     [dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
           hue=0.1)]),
    ('jitter_all_seed2', 'logo.png', 30,
     [dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
           hue=0.1)]),
    ('rrc_jitter_erasing_chain', 'chelsea.png', 31,
     [dict(type='RandomResizedCrop', scale=24),
      dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
      dict(type='RandomErasing', erase_prob=0.5, mode='rand')]),
    ('effnet_rrc_default', 'chelsea.png', 60,
     [dict(type='EfficientNetRandomCrop', scale=24)]),
    ('effnet_rrc_seed2', 'logo.png', 61,
     [dict(type='EfficientNetRandomCrop', scale=20)]),
    ('effnet_rrc_ranges', 'chelsea.png', 62,
     [dict(type='EfficientNetRandomCrop', scale=16,
           crop_ratio_range=(0.3, 0.6), aspect_ratio_range=(0.5, 2.0),
           min_covered=0.0, interpolation='bilinear')]),
    ('effnet_rrc_fallback_no_attempts', 'chelsea.png', 63,
     [dict(type='EfficientNetRandomCrop', scale=18, max_attempts=0,
           crop_padding=5)]),
    ('effnet_rrc_fallback_min_covered', 'logo.png', 64,
     [dict(type='EfficientNetRandomCrop', scale=16, min_covered=1.0)]),
    ('effnet_rrc_pillow', 'chelsea.png', 65,
     [dict(type='EfficientNetRandomCrop', scale=22, backend='pillow',
           interpolation='bilinear')]),
    ('effnet_rrc_float32', 'chelsea.png', 66,
     [dict(type='EfficientNetRandomCrop', scale=20)], {'to_float32': True}),
    ('lighting_regnet', 'chelsea.png', 70,
     [dict(type='Lighting', eigval=EIGVAL, eigvec=EIGVEC, alphastd=25.5)]),
    ('lighting_to_rgb', 'logo.png', 71,
     [dict(type='Lighting', eigval=EIGVAL, eigvec=EIGVEC, alphastd=25.5,
           to_rgb=True)]),
    ('lighting_wraps_u8', 'chelsea.png', 72,
     [dict(type='Lighting', eigval=EIGVAL, eigvec=EIGVEC, alphastd=3000.0)]),
    ('lighting_float32', 'chelsea.png', 73,
     [dict(type='Lighting', eigval=EIGVAL, eigvec=EIGVEC, alphastd=300.0,
           to_rgb=True)], {'to_float32': True}),
    ('lighting_two_eigvals', 'logo.png', 74,
     [dict(type='Lighting', eigval=[0.5, 0.1],
           eigvec=[[0.6, -0.2], [0.5, 0.7], [-0.6, 0.3]], alphastd=40.0)]),
]


def build(cfg):
    cfg = dict(cfg)
    return BUILD[cfg.pop('type')](**cfg)


def main():
    global STREAM
    rows = []
    for case in CASES:
        name, fixture, seed, pipeline = case[:4]
        load_opts = case[4] if len(case) > 4 else {}
        results = LoadImageFromFile(**load_opts)(
            dict(img_path=os.path.join(FIX, fixture)))
        STREAM = Stream(seed)
        for step in pipeline:
            results = build(step)(results)
        meta = {k: plain(v) for k, v in results.items()
                if k not in ('img', 'img_path')}
        rows.append({'name': name, 'file': fixture, 'seed': seed,
                     'load': load_opts, 'pipeline': plain(pipeline),
                     'keys': sorted(results.keys()), 'meta': meta,
                     'draws': STREAM.offset, 'img': arr(results['img'])})
    with open(OUT, 'w') as f:
        json.dump({'mmpretrain': '1.2.0', 'mmcv': mmcv.__version__,
                   'pipelines': rows}, f, separators=(',', ':'))
        f.write('\n')
    print('wrote %d cases to %s' % (len(rows), OUT))


if __name__ == '__main__':
    main()
