"""Top-1 agreement between mm's bf16 autocast inference and its f32
inference of the same ResNet on real images: the photographs shipped with
scikit-image and the Fashion-MNIST test images, resized to 224x224 (RGB,
ImageNet mean/std), classified by build/tools/bench/cls_agree.

    /usr/bin/python3 tools/bench/cls/bf16_agreement.py
        [--agree build/tools/bench/cls_agree] [--plugin-dir build/plugins]
        [--model resnet50] [--fashion 500] [--batch 16] [--threads 2]

(numpy and Pillow: Debian's python3 has them.)

The weights are random (mmpretrain's init, seed 0): the logits mean
nothing, so agreement here measures how often bf16 rounding flips the
argmax of an untrained net, which is a harsher test than on a trained one
(random logits are close together).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CONFIGS = {
    'resnet18': 'configs/mmcls/resnet/resnet18_8xb32_in1k.yaml',
    'resnet50': 'configs/mmcls/resnet/resnet50_8xb32_in1k.yaml',
}
SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data'
FASHION = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def prep(img, size):
    img = img.convert('RGB').resize((size, size), Image.BILINEAR)
    a = (np.asarray(img, np.float32) - MEAN) / STD
    return a.transpose(2, 0, 1)


def images(size, fashion):
    out = []
    for name in sorted(os.listdir(SKIMAGE)):
        if not name.lower().endswith(('.png', '.jpg', '.jpeg')):
            continue
        try:
            with Image.open(os.path.join(SKIMAGE, name)) as im:
                if min(im.size) < 16:
                    continue
                out.append(prep(im, size))
        except OSError:
            continue
    n_photos = len(out)
    with gzip.open(FASHION, 'rb') as f:
        raw = f.read()
    n = min(fashion, int.from_bytes(raw[4:8], 'big'))
    pix = np.frombuffer(raw, np.uint8, n * 784, 16).reshape(n, 28, 28)
    for p in pix:
        out.append(prep(Image.fromarray(p), size))
    return np.stack(out).astype('<f4'), n_photos, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--agree', default='build/tools/bench/cls_agree')
    ap.add_argument('--plugin-dir',
                    default=os.path.join(ROOT, 'build', 'plugins'))
    ap.add_argument('--model', action='append', choices=sorted(CONFIGS))
    ap.add_argument('--fashion', type=int, default=500)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    x, n_photos, n_fashion = images(a.size, a.fashion)
    env = dict(os.environ, MM_NUM_THREADS=str(a.threads),
               OMP_NUM_THREADS=str(a.threads))
    with tempfile.TemporaryDirectory(prefix='bf16_agree_') as tmp:
        path = os.path.join(tmp, 'images.f32')
        x.tofile(path)
        for model in a.model or ['resnet18', 'resnet50']:
            p = subprocess.run(
                [a.agree, '--plugin-dir', os.path.abspath(a.plugin_dir), CONFIGS[model], path,
                 str(len(x)), str(a.size), str(a.batch)],
                cwd=ROOT, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print('bf16_agreement: %s failed:\n%s' % (model, p.stderr),
                      file=sys.stderr)
                return 1
            r = json.loads(p.stdout.strip().splitlines()[-1])
            f32, bf16 = np.array(r['f32']), np.array(r['bf16'])
            same = f32 == bf16
            print('%s (random weights): top-1 agreement bf16 vs f32 '
                  '%d/%d = %.1f%% (photos %d/%d, fashion-mnist %d/%d); '
                  'max |logit diff| %.4g' % (
                      model, same.sum(), len(same), 100.0 * same.mean(),
                      same[:n_photos].sum(), n_photos,
                      same[n_photos:].sum(), n_fashion, r['max_abs_diff']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
