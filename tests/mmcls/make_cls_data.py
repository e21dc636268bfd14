#!/usr/bin/python3
"""Write small image-classification datasets from real photographs for the
mmcls tests (run by tests/mmcls/test_datasets.c with /usr/bin/python3).

    make_cls_data.py OUT_DIR [TRAIN_PER_BATCH]

The photographs are those of Debian's python3-skimage (a cat, a rocket, a
motorcycle, coffee cups, an astronaut); each sample is a random square
crop of one photograph, scaled to 32x32 with PIL, and its class is the
photograph. Seeded, so every run writes the same bytes.

OUT_DIR/cifar10/cifar-10-batches-py/   data_batch_1..5 (TRAIN_PER_BATCH
    images each, 24 by default), test_batch,
    batches.meta: the python version's format. data_batch_1 is written
    byte for byte as Python 2's cPickle wrote the real files (opcodes
    U/T, numpy's _reconstruct); the others with Python 3's pickle at
    protocols 2, 3 and 4.
OUT_DIR/cifar100/cifar-100-python/     train, test (fine and coarse
    labels), meta.
OUT_DIR/folders/train/<class>/*.png    class folders (plus a hidden file,
    a text file and a nested folder), meta/train.txt and meta/val.txt
    ("path label" lists), val/*.png.
OUT_DIR/multilabel/ann.json            mmengine's {metainfo, data_list}.
"""
import json
import os
import pickle
import struct
import sys

import numpy as np
from PIL import Image

SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data'
# photograph -> CIFAR-10 class index (airplane 0, automobile 1, cat 3, ...)
PHOTOS = [('chelsea.png', 3), ('rocket.jpg', 0), ('motorcycle_left.png', 1),
          ('coffee.png', 8), ('astronaut.png', 2)]


def load(name):
    img = Image.open(os.path.join(SKIMAGE, name)).convert('RGB')
    return np.asarray(img)


def patches(rng, photos, n):
    """n (32, 32, 3) crops and their photo indices, classes in turn."""
    imgs, which = [], []
    for i in range(n):
        k = i % len(photos)
        p = photos[k]
        h, w = p.shape[:2]
        s = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
        y = int(rng.integers(0, h - s + 1))
        x = int(rng.integers(0, w - s + 1))
        crop = Image.fromarray(p[y:y + s, x:x + s])
        imgs.append(np.asarray(crop.resize((32, 32), Image.BILINEAR)))
        which.append(k)
    return np.stack(imgs), which


def rows(imgs):
    """(N, 32, 32, 3) -> CIFAR's (N, 3072): the R plane, G, then B."""
    return np.ascontiguousarray(imgs.transpose(0, 3, 1, 2).reshape(
        len(imgs), 3072))


def py2_pickle(data, labels, label_key):
    """A dict as Python 2's cPickle protocol 2 writes it for CIFAR."""
    def s(b):  # py2 str: SHORT_BINSTRING or BINSTRING
        if len(b) < 256:
            return b'U' + bytes([len(b)]) + b
        return b'T' + struct.pack('<I', len(b)) + b

    def i(v):
        if v < 256:
            return b'K' + bytes([v])
        if v < 65536:
            return b'M' + struct.pack('<H', v)
        return b'J' + struct.pack('<i', v)
    out = b'\x80\x02}q\x01(' + s(b'data') + b'q\x02'
    out += b'cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04'
    out += b'K\x00\x85' + s(b'b') + b'\x87Rq\x05('
    out += i(1) + i(data.shape[0]) + i(data.shape[1]) + b'\x86'
    out += b'cnumpy\ndtype\nq\x06' + s(b'u1') + b'K\x00K\x01\x87Rq\x07('
    out += i(3) + s(b'|') + b'NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb'
    out += b'\x89' + s(data.tobytes()) + b'tb'
    out += s(label_key.encode()) + b'q\x08]q\t('
    out += b''.join(i(v) for v in labels) + b'e'
    out += s(b'batch_label') + s(b'training batch 1 of 5') + b'u.'
    back = pickle.loads(out, encoding='latin1')  # what mmpretrain reads
    assert (back['data'] == data).all() and back[label_key] == list(labels)
    return out


def write(path, blob):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(blob)


def main(out, per_batch=24):
    rng = np.random.default_rng(20240601)
    photos = [load(p) for p, _ in PHOTOS]

    # CIFAR-10: 5 training batches of per_batch, a test batch of 20
    d = os.path.join(out, 'cifar10', 'cifar-10-batches-py')
    for b in range(5):
        imgs, which = patches(rng, photos[:4], per_batch)
        labels = [PHOTOS[k][1] for k in which]
        name = os.path.join(d, 'data_batch_%d' % (b + 1))
        if b == 0:
            write(name, py2_pickle(rows(imgs), labels, 'labels'))
        else:
            entry = {'batch_label': 'training batch %d of 5' % (b + 1),
                     'labels': labels, 'data': rows(imgs),
                     'filenames': ['p%d.png' % i for i in range(per_batch)]}
            write(name, pickle.dumps(entry, protocol=[2, 3, 4, 4][b - 1]))
    imgs, which = patches(rng, photos[:4], 20)
    write(os.path.join(d, 'test_batch'), pickle.dumps(
        {'batch_label': 'testing batch 1 of 1', 'data': rows(imgs),
         'labels': [PHOTOS[k][1] for k in which]}, protocol=2))
    write(os.path.join(d, 'batches.meta'), pickle.dumps(
        {'label_names': ['airplane', 'automobile', 'bird', 'cat', 'deer',
                         'dog', 'frog', 'horse', 'ship', 'truck']},
        protocol=2))
    # the test's expectations: the first test image and all test labels
    with open(os.path.join(out, 'cifar10_test.json'), 'w') as f:
        json.dump({'labels': [PHOTOS[k][1] for k in which],
                   'img0': imgs[0].reshape(-1).tolist()}, f)

    # CIFAR-100: fine labels 0..4 (apple, aquarium_fish, ...), 30 / 10
    d = os.path.join(out, 'cifar100', 'cifar-100-python')
    for split, n in (('train', 30), ('test', 10)):
        imgs, which = patches(rng, photos, n)
        write(os.path.join(d, split), pickle.dumps(
            {'filenames': ['x'] * n, 'batch_label': split,
             'fine_labels': [k * 7 for k in which],
             'coarse_labels': which, 'data': rows(imgs)}, protocol=2))

    # class folders: 3 classes x 4 images, plus things to skip
    root = os.path.join(out, 'folders')
    names = ['cat', 'motorcycle', 'rocket']
    lines = []
    for c, k in enumerate([0, 2, 1]):
        imgs, _ = patches(rng, [photos[k]], 4)
        for j, img in enumerate(imgs):
            rel = '%s/%s%d.png' % (names[c], names[c], j)
            if j == 3:  # one in a nested folder, upper-case extension
                rel = '%s/more/%s%d.PNG' % (names[c], names[c], j)
            p = os.path.join(root, 'train', rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            Image.fromarray(img).save(p, format='PNG')
            lines.append('%s %d' % (rel, c))
    write(os.path.join(root, 'train', 'cat', '.hidden.png'), b'not read')
    write(os.path.join(root, 'train', 'rocket', 'notes.txt'), b'not read')
    os.makedirs(os.path.join(root, 'train', 'empty'), exist_ok=True)
    write(os.path.join(root, 'train', 'empty', 'readme.txt'), b'no images')
    write(os.path.join(root, 'meta', 'train.txt'),
          ('\n'.join(lines) + '\n').encode())
    imgs, _ = patches(rng, photos[:3], 3)
    val = []
    for j, img in enumerate(imgs):
        p = os.path.join(root, 'val', 'v%d.png' % j)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        Image.fromarray(img).save(p, format='PNG')
        val.append('v%d.png %d' % (j, j))
    write(os.path.join(root, 'meta', 'val.txt'), ('\n'.join(val)).encode())

    # hostile batches: data of the wrong shape; data one byte short
    bad = pickle.dumps({'data': np.zeros((2, 3000), 'u1'), 'labels': [0, 1]},
                       protocol=3)
    write(os.path.join(out, 'hostile', 'shape.pkl'), bad)
    field = b'B' + struct.pack('<I', 6000)
    assert bad.count(field) == 1
    at = bad.index(field)
    short = (bad[:at] + b'B' + struct.pack('<I', 5999) +
             bad[at + 5:at + 5 + 5999] + bad[at + 5 + 6000:])
    write(os.path.join(out, 'hostile', 'short.pkl'), short)

    # multi-label: mmengine's annotation format
    ml = {'metainfo': {'classes': ['cat', 'motorcycle', 'rocket', 'mug']},
          'data_list': [
              {'img_path': 'cat/cat0.png', 'gt_label': [0]},
              {'img_path': 'motorcycle/motorcycle1.png', 'gt_label': [1, 3]},
              {'img_path': 'rocket/rocket2.png', 'gt_label': []}]}
    write(os.path.join(out, 'multilabel', 'ann.json'),
          json.dumps(ml, indent=1).encode())


if __name__ == '__main__':
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
