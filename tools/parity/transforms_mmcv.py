#!/usr/bin/env python3
"""Record what mmcv's transforms, cv2.imread and cv2.resize do to small real
images, for the `image` test suite (tests/image/test_transforms.c compares
mm against this recording; CI has no mmcv).

    python3 tools/parity/transforms_mmcv.py [--make-fixtures]

Needs mmcv 2.x (mmcv-lite is enough), mmengine, numpy and
opencv-python-headless, e.g. in a venv made with
`python3 -m venv --system-site-packages V && V/bin/pip install
mmcv-lite==2.1.0 mmengine opencv-python-headless==4.10.0.84`.

--make-fixtures (re)writes tests/fixtures/image/ from the photographs of
Debian's python3-skimage (cropped small): PNGs written by cv2, a JPEG, and
broken files (empty, truncated, not an image). Writes
tests/image/mmcv_expected.json.
"""
import argparse
import json
import os
import sys

import cv2
import mmcv
import numpy as np
from mmcv.transforms import (CenterCrop, LoadImageFromFile, Normalize, Pad,
                             RandomFlip, RandomResize, Resize)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIX = os.path.join(ROOT, 'tests', 'fixtures', 'image')
OUT = os.path.join(ROOT, 'tests', 'image', 'mmcv_expected.json')
SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data'


def make_fixtures():
    os.makedirs(FIX, exist_ok=True)
    rd = lambda f: cv2.imread(os.path.join(SKIMAGE, f), cv2.IMREAD_UNCHANGED)
    chelsea = rd('chelsea.png')[80:112, 150:190]  # (32, 40, 3) BGR
    camera = rd('camera.png')[100:124, 200:230]   # (24, 30)
    logo = rd('logo.png')[470:490, 200:224]       # (20, 24, 4) BGRA
    cv2.imwrite(os.path.join(FIX, 'chelsea.png'), chelsea)
    cv2.imwrite(os.path.join(FIX, 'camera.png'), camera)
    cv2.imwrite(os.path.join(FIX, 'logo.png'), logo)
    cv2.imwrite(os.path.join(FIX, 'chelsea.jpg'), chelsea,
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(os.path.join(FIX, 'camera.bmp'), camera)
    with open(os.path.join(FIX, 'chelsea.jpg'), 'rb') as f:
        jpg = f.read()
    with open(os.path.join(FIX, 'chelsea.png'), 'rb') as f:
        png = f.read()
    with open(os.path.join(FIX, 'truncated.jpg'), 'wb') as f:
        f.write(jpg[:len(jpg) // 3])
    with open(os.path.join(FIX, 'truncated.png'), 'wb') as f:
        f.write(png[:len(png) // 2])
    with open(os.path.join(FIX, 'empty.png'), 'wb') as f:
        pass
    with open(os.path.join(FIX, 'not_an_image.jpg'), 'wb') as f:
        f.write(b'this is a text file, not a JPEG\n')


def arr(a):
    a = np.asarray(a)
    kind = {np.dtype('uint8'): 'u8', np.dtype('float32'): 'f32'}[a.dtype]
    if kind == 'u8':  # two hex digits a pixel keep the file small
        return {'shape': list(a.shape), 'dtype': kind,
                'hex': a.tobytes().hex()}
    return {'shape': list(a.shape), 'dtype': kind,
            'data': [float('%.7g' % x) for x in a.reshape(-1)]}


def plain(v):
    """A results-dict value as JSON (tuples -> lists, numpy -> lists)."""
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


DECODE = [
    ('chelsea.png', 'color'), ('chelsea.png', 'grayscale'),
    ('chelsea.png', 'unchanged'), ('camera.png', 'color'),
    ('camera.png', 'grayscale'), ('camera.png', 'unchanged'),
    ('logo.png', 'color'), ('logo.png', 'grayscale'),
    ('logo.png', 'unchanged'), ('chelsea.jpg', 'color'),
    ('chelsea.jpg', 'grayscale'), ('camera.bmp', 'color'),
    ('camera.bmp', 'grayscale'),
]

INTERP = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR,
          'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA}
# (w, h) targets for the (W=40, H=32) and (W=30, H=24) crops: up, down,
# exact halves (cv2 turns bilinear into area there), odd factors.
SIZES = [(53, 45), (17, 13), (20, 16), (40, 16), (13, 29)]

# Pipelines after LoadImageFromFile, with deterministic settings (mmcv's
# random draws come from numpy, so random cases use prob 0/1 or a
# degenerate range).
PIPELINES = [
    ('load_color', 'chelsea.png', []),
    ('load_float32', 'chelsea.png', [], {'to_float32': True}),
    ('load_grayscale', 'chelsea.png', [], {'color_type': 'grayscale'}),
    ('load_unchanged_rgba', 'logo.png', [], {'color_type': 'unchanged'}),
    ('resize_scale_no_keep', 'chelsea.png',
     [dict(type='Resize', scale=(50, 21))]),
    ('resize_scale_int', 'chelsea.png', [dict(type='Resize', scale=24)]),
    ('resize_keep_ratio', 'chelsea.png',
     [dict(type='Resize', scale=(64, 20), keep_ratio=True)]),
    ('resize_keep_ratio_long', 'chelsea.png',
     [dict(type='Resize', scale=(100, 60), keep_ratio=True)]),
    ('resize_scale_factor', 'chelsea.png',
     [dict(type='Resize', scale_factor=0.7)]),
    ('resize_scale_factor_pair', 'chelsea.png',
     [dict(type='Resize', scale_factor=(1.3, 0.6), keep_ratio=False)]),
    ('resize_nearest', 'chelsea.png',
     [dict(type='Resize', scale=(23, 37), interpolation='nearest')]),
    ('resize_bicubic', 'chelsea.png',
     [dict(type='Resize', scale=(23, 37), interpolation='bicubic')]),
    ('resize_area', 'chelsea.png',
     [dict(type='Resize', scale=(17, 11), interpolation='area')]),
    ('resize_gray', 'camera.png',
     [dict(type='Resize', scale=(19, 33))], {'color_type': 'grayscale'}),
    ('resize_float32', 'chelsea.png',
     [dict(type='Resize', scale=(31, 19))], {'to_float32': True}),
    ('random_resize_fixed_ratio', 'chelsea.png',
     [dict(type='RandomResize', scale=(50, 30), ratio_range=(1.0, 1.0),
           keep_ratio=True)]),
    ('random_resize_fixed_list', 'chelsea.png',
     [dict(type='RandomResize', scale=[(36, 20), (36, 20)])]),
    ('flip_horizontal', 'chelsea.png',
     [dict(type='RandomFlip', prob=1.0)]),
    ('flip_vertical', 'chelsea.png',
     [dict(type='RandomFlip', prob=1.0, direction='vertical')]),
    ('flip_diagonal', 'chelsea.png',
     [dict(type='RandomFlip', prob=1.0, direction='diagonal')]),
    ('flip_never', 'chelsea.png', [dict(type='RandomFlip', prob=0.0)]),
    ('flip_list', 'chelsea.png',
     [dict(type='RandomFlip', prob=[0.0, 1.0],
           direction=['horizontal', 'vertical'])]),
    ('flip_gray', 'camera.png', [dict(type='RandomFlip', prob=1.0)],
     {'color_type': 'grayscale'}),
    ('center_crop', 'chelsea.png', [dict(type='CenterCrop', crop_size=21)]),
    ('center_crop_wh', 'chelsea.png',
     [dict(type='CenterCrop', crop_size=(15, 27))]),
    ('center_crop_larger', 'chelsea.png',
     [dict(type='CenterCrop', crop_size=(50, 20))]),
    ('center_crop_auto_pad', 'chelsea.png',
     [dict(type='CenterCrop', crop_size=(50, 36), auto_pad=True,
           pad_cfg=dict(type='Pad', pad_val=7))]),
    ('pad_size', 'chelsea.png', [dict(type='Pad', size=(48, 37))]),
    ('pad_size_divisor', 'chelsea.png',
     [dict(type='Pad', size_divisor=7, pad_val=dict(img=3))]),
    ('pad_to_square', 'chelsea.png',
     [dict(type='Pad', pad_to_square=True, pad_val=9)]),
    ('pad_square_divisor', 'camera.png',
     [dict(type='Pad', pad_to_square=True, size_divisor=8)],
     {'color_type': 'grayscale'}),
    ('pad_edge', 'chelsea.png',
     [dict(type='Pad', size=(47, 39), padding_mode='edge')]),
    ('pad_reflect', 'chelsea.png',
     [dict(type='Pad', size=(47, 39), padding_mode='reflect')]),
    ('pad_symmetric', 'chelsea.png',
     [dict(type='Pad', size=(47, 39), padding_mode='symmetric')]),
    ('pad_reflect_wide', 'camera.png',
     [dict(type='Pad', size=(75, 50), padding_mode='reflect')],
     {'color_type': 'grayscale'}),
    ('normalize_to_rgb', 'chelsea.png',
     [dict(type='Normalize', mean=[123.675, 116.28, 103.53],
           std=[58.395, 57.12, 57.375], to_rgb=True)]),
    ('normalize_bgr', 'chelsea.png',
     [dict(type='Normalize', mean=[103.53, 116.28, 123.675],
           std=[57.375, 57.12, 58.395], to_rgb=False)]),
    ('normalize_gray', 'camera.png',
     [dict(type='Normalize', mean=[33.46], std=[78.87], to_rgb=False)],
     {'color_type': 'grayscale'}),
    ('resize_flip_pad_normalize', 'chelsea.png',
     [dict(type='Resize', scale=(28, 28), keep_ratio=True),
      dict(type='RandomFlip', prob=1.0),
      dict(type='Pad', size_divisor=8),
      dict(type='Normalize', mean=[123.675, 116.28, 103.53],
           std=[58.395, 57.12, 57.375], to_rgb=True)]),
]

BUILD = {'Resize': Resize, 'RandomResize': RandomResize,
         'RandomFlip': RandomFlip, 'CenterCrop': CenterCrop, 'Pad': Pad,
         'Normalize': Normalize}


def build(cfg):
    cfg = dict(cfg)
    return BUILD[cfg.pop('type')](**cfg)


def yamlable(cfg):
    """The pipeline step as mm's config would say it (tuples -> lists)."""
    return plain(cfg)


# mmengine's ImgDataPreprocessor on a batch of two u8 CHW images of
# different sizes (values are a fixed pattern, so the C test rebuilds them).
PREPROCESSORS = [
    dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
         bgr_to_rgb=True, pad_size_divisor=4, pad_value=1.5),
    dict(mean=[127.5], std=[127.5], pad_size_divisor=1),
    dict(pad_size_divisor=8, rgb_to_bgr=True),
]


def pattern(c, h, w, k):
    return ((np.arange(c * h * w) * (7 + k) + 11 * k) % 256).astype(
        np.uint8).reshape(c, h, w)


def record_preprocessor():
    import torch
    from mmengine.model import ImgDataPreprocessor
    rows = []
    for cfg in PREPROCESSORS:
        dp = ImgDataPreprocessor(**cfg)
        # via lists: Debian's torch and the venv's numpy may not match
        inputs = [torch.tensor(pattern(3, 5, 7, 0).tolist(), dtype=torch.uint8),
                  torch.tensor(pattern(3, 6, 4, 1).tolist(), dtype=torch.uint8)]
        out = dp(dict(inputs=inputs), training=False)['inputs']
        out = np.array(out.tolist(), dtype=np.float32)
        rows.append({'cfg': cfg, 'inputs': [[3, 5, 7], [3, 6, 4]],
                     'img': arr(out),
                     'buffers': sorted(dp.state_dict().keys())})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--make-fixtures', action='store_true')
    args = ap.parse_args()
    if args.make_fixtures:
        make_fixtures()
    np.random.seed(0)
    out = {'mmcv': mmcv.__version__, 'cv2': cv2.__version__,
           'decode': [], 'resize': [], 'pipelines': []}
    for f, ct in DECODE:
        img = mmcv.imread(os.path.join(FIX, f), flag=ct)
        out['decode'].append({'file': f, 'color_type': ct, 'img': arr(img)})
    for f in ('chelsea.png', 'camera.png'):
        src = mmcv.imread(os.path.join(FIX, f), flag='unchanged')
        for dt in ('u8', 'f32') if f == 'chelsea.png' else ('u8',):
            x = src if dt == 'u8' else src.astype(np.float32) * 0.75
            for (w, h) in SIZES if dt == 'u8' else SIZES[1:]:
                for name, code in INTERP.items():
                    y = cv2.resize(x, (w, h), interpolation=code)
                    out['resize'].append({'file': f, 'dtype': dt,
                                          'size': [w, h],
                                          'interpolation': name,
                                          'img': arr(y)})
    for case in PIPELINES:
        name, f, steps = case[:3]
        load = case[3] if len(case) > 3 else {}
        results = {'img_path': os.path.join(FIX, f)}
        results = LoadImageFromFile(**load)(results)
        for s in steps:
            results = build(s)(results)
        meta = {k: plain(v) for k, v in results.items()
                if k not in ('img', 'img_path')}
        out['pipelines'].append({
            'name': name, 'file': f,
            'pipeline': [dict(type='LoadImageFromFile', **load)] +
            [yamlable(s) for s in steps],
            'keys': sorted(results.keys()), 'meta': meta,
            'img': arr(results['img'])})
    out['preprocessor'] = record_preprocessor()
    with open(OUT, 'w') as fp:
        json.dump(out, fp, separators=(',', ':'))
        fp.write('\n')
    print(f'{OUT}: {len(out["decode"])} decodes, {len(out["resize"])} '
          f'resizes, {len(out["pipelines"])} pipelines')


if __name__ == '__main__':
    sys.exit(main())
