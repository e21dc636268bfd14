#!/usr/bin/env python3
"""Record what mmpretrain 1.2.0's auto-augmentation transforms (and the mmcv
image functions under them) do to small real photographs, for the `image`
test suite (tests/image/test_autoaug.c compares mm against this recording;
CI has neither mmpretrain nor mmcv).

    python tools/parity/autoaug_mmpretrain.py [--make-fixtures]

Needs mmpretrain 1.2.0 with mmcv 2.x and opencv-python(-headless) 4.10 (the
venv of the benchmark: mmpretrain, mmcv 2.2.0, cv2 4.10.0.84). mmcv 2.1's
image functions are the same code.

--make-fixtures (re)writes tests/fixtures/image/aa_*.png: 48x40 crops of
Debian python3-skimage's photographs (three colour, one grey, one BGRA).

Each case is one transform with nothing left to chance - prob 1, a fixed
magnitude or a magnitude_range with magnitude_std 0, random_negative_prob 0
or 1 - so mm, drawing from its own generator, must give the same pixels.
The random choices themselves (which policy, which sign, the magnitude
noise) are tested by their statistics in C. `policies` records the preset
policy tables after mmpretrain's hparams merge.
"""
import argparse
import base64
import json
import os
import sys

import cv2
import numpy as np
from mmpretrain.datasets.transforms import auto_augment as aa
from mmpretrain.registry import TRANSFORMS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIX = os.path.join(ROOT, 'tests', 'fixtures', 'image')
OUT = os.path.join(ROOT, 'tests', 'image', 'autoaug_expected.json')
SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data'

CROPS = {  # name: (file, rows, cols), 40 x 48 each
    'aa_astronaut.png': ('astronaut.png', (100, 140), (180, 228)),
    'aa_coffee.png': ('coffee.png', (150, 190), (250, 298)),
    'aa_chelsea.png': ('chelsea.png', (60, 100), (140, 188)),
    'aa_camera.png': ('camera.png', (90, 130), (200, 248)),
    'aa_logo.png': ('logo.png', (400, 440), (180, 228)),
}


def make_fixtures():
    for out, (f, (r0, r1), (c0, c1)) in CROPS.items():
        img = cv2.imread(os.path.join(SKIMAGE, f), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(os.path.join(FIX, out), img[r0:r1, c0:c1])


def png64(a):
    """A u8 image as base64 PNG (lossless, decoded bit-exactly by mm)."""
    a = np.asarray(a)
    assert a.dtype == np.uint8, a.dtype
    ok, buf = cv2.imencode('.png', a, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return {'shape': list(a.shape), 'png': base64.b64encode(buf).decode()}


def plain(v):
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


COLOR = ['aa_astronaut.png', 'aa_coffee.png', 'aa_chelsea.png']
GREY = 'aa_camera.png'
BGRA = 'aa_logo.png'
ALL = COLOR + [GREY, BGRA]
ONE = object()
D = dict(prob=1.0, random_negative_prob=0.0)
NEG = dict(prob=1.0, random_negative_prob=1.0)

# (name, files, pipeline of mmpretrain transform configs)
CASES = []


_turn = [0]


def case(name, files, *steps):
    """files: a list, or ONE (the next colour photo in turn) plus extras."""
    if files and files[0] is ONE:
        files = [COLOR[_turn[0] % len(COLOR)]] + files[1:]
        _turn[0] += 1
    CASES.append((name, files, list(steps)))


for interp in ('bicubic', 'nearest', 'bilinear', 'area'):
    case(f'shear_h_{interp}', COLOR + [GREY, BGRA],
         dict(type='Shear', magnitude=0.3, interpolation=interp, **D))
case('shear_v_negative', [ONE, GREY],
     dict(type='Shear', magnitude=0.23, direction='vertical', **NEG))
case('shear_pad_tuple', [ONE],
     dict(type='Shear', magnitude=0.45, pad_val=(10, 200, 30), **D))
case('shear_range', [ONE],
     dict(type='Shear', magnitude_range=(0, 0.3), magnitude_level=7, **D))
case('translate_h', [ONE, GREY, BGRA],
     dict(type='Translate', magnitude=0.27, **D))
case('translate_v_negative_bilinear', [ONE, GREY],
     dict(type='Translate', magnitude=0.31, direction='vertical',
          interpolation='bilinear', **NEG))
case('translate_bicubic_pad', [ONE],
     dict(type='Translate', magnitude=0.137, interpolation='bicubic',
          pad_val=(0, 50, 250), **D))
case('translate_range', [ONE],
     dict(type='Translate', magnitude_range=(0, 0.45), magnitude_level=3,
          total_level=7, **D))
case('rotate_nearest', COLOR + [GREY, BGRA],
     dict(type='Rotate', angle=30., **D))
case('rotate_negative_bilinear', [ONE, GREY],
     dict(type='Rotate', angle=17.5, interpolation='bilinear', **NEG))
case('rotate_bicubic_pad_tuple', [ONE, BGRA],
     dict(type='Rotate', angle=-41.3, interpolation='bicubic',
          pad_val=(5, 100, 200), **D))
case('rotate_center_scale', [ONE],
     dict(type='Rotate', angle=12.0, center=(10.3, 30.6), scale=0.8,
          interpolation='bilinear', **D))
case('rotate_range', [ONE],
     dict(type='Rotate', magnitude_range=(0, 30), magnitude_level=9, **D))
case('auto_contrast', COLOR, dict(type='AutoContrast', prob=1.0))
case('invert', [ONE, GREY, BGRA], dict(type='Invert', prob=1.0))
case('equalize', COLOR, dict(type='Equalize', prob=1.0))
case('posterize_equalize', [ONE],  # few distinct values: other steps
     dict(type='Posterize', bits=2, prob=1.0),
     dict(type='Equalize', prob=1.0))
case('solarize', [ONE, GREY, BGRA],
     dict(type='Solarize', thr=256 / 9 * 4, prob=1.0))
case('solarize_range', [ONE],
     dict(type='Solarize', magnitude_range=(256, 0), magnitude_level=6,
          prob=1.0))
case('solarize_add', [ONE, GREY, BGRA],
     dict(type='SolarizeAdd', magnitude=60, prob=1.0))
case('solarize_add_float_thr', [ONE],
     dict(type='SolarizeAdd', magnitude=110.7, thr=200, prob=1.0))
case('solarize_add_range', [ONE],
     dict(type='SolarizeAdd', magnitude_range=(0, 110), magnitude_level=4,
          prob=1.0))
case('posterize_4', [ONE, GREY, BGRA],
     dict(type='Posterize', bits=4, prob=1.0))
case('posterize_range_ceil', [ONE],  # 0.4 bits -> 1
     dict(type='Posterize', magnitude_range=(4, 0), magnitude_level=9,
          prob=1.0))
case('posterize_range_zero', [ONE],  # 0 bits: black
     dict(type='Posterize', magnitude_range=(4, 0), magnitude_level=10,
          prob=1.0))
case('contrast', COLOR, dict(type='Contrast', magnitude=0.5, **D))
case('contrast_negative', [ONE],
     dict(type='Contrast', magnitude=0.9, **NEG))
case('contrast_range', [ONE],
     dict(type='Contrast', magnitude_range=(0, 0.9), magnitude_level=7, **D))
case('color', COLOR, dict(type='ColorTransform', magnitude=0.4, **D))
case('color_negative', [ONE],
     dict(type='ColorTransform', magnitude=0.9, **NEG))
case('color_range', [ONE],
     dict(type='ColorTransform', magnitude_range=(0, 0.9),
          magnitude_level=3, **D))
case('brightness', [ONE, GREY, BGRA],
     dict(type='Brightness', magnitude=0.3, **D))
case('brightness_negative', [ONE],
     dict(type='Brightness', magnitude=0.63, **NEG))
case('brightness_range', [ONE],
     dict(type='Brightness', magnitude_range=(0, 0.9), magnitude_level=7,
          **D))
case('sharpness', ALL, dict(type='Sharpness', magnitude=0.7, **D))
case('sharpness_negative', [ONE, GREY],
     dict(type='Sharpness', magnitude=0.9, **NEG))
case('sharpness_range', [ONE],
     dict(type='Sharpness', magnitude_range=(0, 0.9), magnitude_level=9,
          **D))
case('cutout_covers_all', [ONE, GREY],
     dict(type='Cutout', shape=100, pad_val=7, prob=1.0))
case('cutout_covers_all_tuple', [ONE],
     dict(type='Cutout', shape=(90, 120), pad_val=(1, 2, 3), prob=1.0))
case('sequence', [ONE],
     dict(type='Rotate', angle=30., **D),
     dict(type='Equalize', prob=1.0),
     dict(type='ColorTransform', magnitude=0.2, **D),
     dict(type='Posterize', bits=5, prob=1.0))
case('rand_augment_hparams', [ONE],
     dict(type='RandAugment', num_policies=1, magnitude_level=6,
          total_level=12, hparams=dict(pad_val=[1, 2, 3]),
          policies=[dict(type='Rotate', magnitude_range=(0, 30),
                         interpolation='bilinear', **D)]))
case('rand_augment_two', [ONE],
     dict(type='RandAugment', num_policies=2, magnitude_level=9,
          policies=[dict(type='Shear', magnitude_range=(0, 0.3),
                         direction='vertical', **D)]))
case('auto_augment_one', [ONE],
     dict(type='AutoAugment', hparams=dict(pad_val=50),
          policies=[[dict(type='Posterize', bits=4, prob=1.0),
                     dict(type='Rotate', angle=30., prob=1.0,
                          random_negative_prob=0.0)]]))


def load(f):
    return cv2.imread(os.path.join(FIX, f), cv2.IMREAD_UNCHANGED)


def run(steps, img):
    results = {'img': img.copy()}
    for s in steps:
        results = TRANSFORMS.build(s)(results)
    return results['img']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--make-fixtures', action='store_true')
    args = ap.parse_args()
    if args.make_fixtures:
        make_fixtures()
    np.random.seed(0)
    import mmcv
    import mmpretrain
    out = {'mmpretrain': mmpretrain.__version__, 'mmcv': mmcv.__version__,
           'cv2': cv2.__version__, 'cases': []}
    for name, files, steps in CASES:
        for f in files:
            y = run(steps, load(f))
            out['cases'].append({'name': name, 'file': f,
                                 'pipeline': plain(steps), 'img': png64(y)})
    # mmcv.auto_contrast with cutoffs (mmpretrain uses 0 only)
    import mmcv
    out['auto_contrast_cutoff'] = []
    for f, cutoff in ((COLOR[0], 2), (COLOR[1], (1, 5)), (COLOR[2], 10.5)):
        y = mmcv.auto_contrast(load(f), cutoff=cutoff)
        cut = list(cutoff) if isinstance(cutoff, tuple) else [cutoff] * 2
        out['auto_contrast_cutoff'].append({'file': f, 'cutoff': cut,
                                            'img': png64(y)})
    # cv2.warpAffine itself: any affine map, another output size, a
    # border value per channel
    out['warp_affine'] = []
    for f, interp, m, size in (
            (COLOR[0], 'bilinear', [[1.3, 0.2, -4.5], [-0.1, 0.9, 3.25]],
             (37, 29)),
            (COLOR[1], 'bicubic', [[0.7, -0.4, 12.0], [0.35, 1.1, -6.0]],
             (61, 50)),
            (GREY, 'nearest', [[-1.0, 0.05, 47.0], [0.0, 1.5, -2.0]],
             (40, 33)),
            (BGRA, 'bicubic', [[0.9, 0.3, -2.0], [-0.3, 0.9, 8.0]],
             (48, 40))):
        border = (9.0, 99.0, 199.0, 250.0)
        y = cv2.warpAffine(load(f), np.array(m), size,
                           flags=mmcv.image.geometric.cv2_interp_codes[interp],
                           borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        out['warp_affine'].append({'file': f, 'interpolation': interp,
                                   'matrix': m, 'size': list(size),
                                   'border': list(border), 'img': png64(y)})
    # the preset policy tables, as mmpretrain expands them
    out['policies'] = {
        'imagenet': plain(aa.AUTOAUG_POLICIES['imagenet']),
        'timm_increasing': plain(aa.RANDAUG_POLICIES['timm_increasing']),
        'simple_increasing': plain(aa.RANDAUG_POLICIES['simple_increasing']),
    }
    with open(OUT, 'w') as fp:
        json.dump(out, fp, separators=(',', ':'))
        fp.write('\n')
    print(f'{OUT}: {len(out["cases"])} cases')


if __name__ == '__main__':
    sys.exit(main())
