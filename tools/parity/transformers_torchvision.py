#!/usr/bin/env python3
"""Record torchvision's transformers for the key maps torchvision.vit and
torchvision.swin.

Writes tests/mmcls/torchvision_transformers.safetensors: for each case, a
small torchvision model (VisionTransformer with and without
representation_size, SwinTransformer with 4x4 windows) with random weights
(every 1-D parameter shifted by N(0, 0.1), every all-zero one drawn from
N(0, 0.02)) under `<case>.sd.<torchvision key>`, an input `<case>.x` and the
eval-mode logits `<case>.y`. The metadata `cases` (JSON) gives for each case
the key map and the mm model config (mmpretrain's names) that the state
dict maps onto; tests/mmcls/test_transformers.c loads it strictly through
the map and compares the logits.

    /usr/bin/python3 tools/parity/transformers_torchvision.py \\
        tests/mmcls/torchvision_transformers.safetensors

(recorded with Debian's torch 1.13 and torchvision 0.14).
"""
import json
import struct
import sys

import torch
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer

VIT_ARCH = {'embed_dims': 16, 'num_layers': 2, 'num_heads': 2,
            'feedforward_channels': 24}


def vit_case(name, rep):
    tv = VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                           num_heads=2, hidden_dim=16, mlp_dim=24,
                           num_classes=5, representation_size=rep)
    head = {'type': 'VisionTransformerClsHead', 'num_classes': 5,
            'in_channels': 16}
    if rep:
        head['hidden_dim'] = rep
    cfg = {'type': 'ImageClassifier',
           'backbone': {'type': 'VisionTransformer', 'arch': VIT_ARCH,
                        'img_size': 32, 'patch_size': 8},
           'neck': None, 'head': head}
    return name, tv, 'torchvision.vit', cfg, [2, 3, 32, 32]


def swin_case():
    tv = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2, 2, 1],
                         num_heads=[1, 2, 2, 4], window_size=[4, 4],
                         stochastic_depth_prob=0.0, num_classes=5)
    cfg = {'type': 'ImageClassifier',
           'backbone': {'type': 'SwinTransformer',
                        'arch': {'embed_dims': 8, 'depths': [2, 2, 2, 1],
                                 'num_heads': [1, 2, 2, 4]},
                        'img_size': 112, 'window_size': 4,
                        'drop_path_rate': 0.0},
           'neck': {'type': 'GlobalAveragePooling'},
           'head': {'type': 'LinearClsHead', 'num_classes': 5,
                    'in_channels': 64}}
    return 'swin', tv, 'torchvision.swin', cfg, [1, 3, 112, 112]


def st_dump(path, tensors, metadata):
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


def main():
    torch.manual_seed(0)
    tensors, cases = [], []
    for name, tv, kmap, cfg, shape in [vit_case('vit', None),
                                       vit_case('vit_hidden', 12),
                                       swin_case()]:
        tv.eval()
        with torch.no_grad():
            for _, p in tv.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p) * 0.1)
                elif p.abs().max() == 0:
                    p.normal_(0, 0.02)
        x = torch.randn(*shape)
        with torch.no_grad():
            y = tv(x)
        tensors += [(f'{name}.sd.{k}', v) for k, v in tv.state_dict().items()]
        tensors += [(f'{name}.x', x), (f'{name}.y', y)]
        cases.append({'name': name, 'map': kmap, 'config': cfg})
    st_dump(sys.argv[1], tensors, {'cases': json.dumps(cases)})


if __name__ == '__main__':
    main()
