#!/usr/bin/env python3
"""Record mmpretrain's numbers for the mmcls transformers.

Writes one safetensors file (tests/mmcls/mmpretrain_transformers.safetensors)
that tests/mmcls/test_transformers.c replays without mmpretrain:

  - for each model case of CASES (a small VisionTransformer or
    SwinTransformer backbone, or a whole ImageClassifier with
    VisionTransformerClsHead / LinearClsHead), built by mmpretrain from the
    config and initialised by init_weights() with every 1-D parameter then
    shifted by N(0, 0.1) noise and every all-zero parameter drawn from
    N(0, 0.02) (so LayerNorm, biases, cls_token and the zero-initialised head
    matter): its state_dict under `<case>.sd.<key>` (mm must load it
    strictly, with no key map), an input `<case>.x` of a size other than
    img_size (position embedding resize, padding) and the outputs
    `<case>.out<i>` (backbone: one per out_indices entry; classifier: the
    mode='tensor' logits as out0);
  - one ShiftWindowMSA(embed_dims=8, num_heads=2, window_size=4,
    shift_size=2) (its state under `msa.sd.`) on maps of 8x12 (shifted
    windows with the attention mask) and 7x10 (padded first): `msa.x.<H>x<W>`
    (B, H*W, 8) and `msa.y.<H>x<W>`.

The case list (name, config as JSON, input shape) is in the metadata
(`cases`). Run with a Python that has mmpretrain 1.x, e.g.

    /work/venv-bench/bin/python tools/parity/transformers_mmpretrain.py \\
        tests/mmcls/mmpretrain_transformers.safetensors

(recorded with mmpretrain 1.2.0, mmengine 0.10.7, mmcv 2.x, torch 1.13).
"""
import json
import struct
import sys
import warnings

import torch

warnings.filterwarnings('ignore')

from mmpretrain.models.utils import ShiftWindowMSA  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.utils import register_all_modules  # noqa: E402

TINY_VIT = {'embed_dims': 32, 'num_layers': 3, 'num_heads': 4,
            'feedforward_channels': 48}
TINY_SWIN = {'embed_dims': 8, 'depths': [2, 2, 2, 1],
             'num_heads': [1, 2, 2, 4]}

CASES = [
    ('vit_featmap',
     {'type': 'VisionTransformer', 'arch': TINY_VIT, 'img_size': 32,
      'patch_size': 8, 'out_indices': [0, 2], 'out_type': 'featmap'},
     [2, 3, 44, 24]),
    ('vit_avg',
     {'type': 'VisionTransformer', 'arch': TINY_VIT, 'img_size': 32,
      'patch_size': 8, 'out_type': 'avg_featmap', 'with_cls_token': False,
      'pre_norm': True, 'interpolate_mode': 'bilinear'},
     [2, 3, 40, 24]),
    ('vit_raw',
     {'type': 'VisionTransformer', 'arch': TINY_VIT, 'img_size': [32, 24],
      'patch_size': 8, 'out_type': 'raw', 'final_norm': False,
      'qkv_bias': False, 'out_indices': [1, -1]},
     [1, 3, 32, 24]),
    ('vit_cls',
     {'type': 'ImageClassifier',
      'backbone': {'type': 'VisionTransformer', 'arch': TINY_VIT,
                   'img_size': 32, 'patch_size': 8},
      'neck': None,
      'head': {'type': 'VisionTransformerClsHead', 'num_classes': 5,
               'in_channels': 32, 'hidden_dim': 16}},
     [2, 3, 32, 32]),
    ('swin_all',
     {'type': 'SwinTransformer', 'arch': TINY_SWIN, 'img_size': 64,
      'window_size': 4, 'out_indices': [0, 1, 2, 3], 'pad_small_map': True,
      'use_abs_pos_embed': True},
     [1, 3, 60, 44]),
    ('swin_after',
     {'type': 'SwinTransformer', 'arch': TINY_SWIN, 'img_size': 64,
      'window_size': 4, 'out_indices': [1, 2], 'out_after_downsample': True,
      'pad_small_map': True},
     [1, 3, 36, 36]),
    ('swin_cls',
     {'type': 'ImageClassifier',
      'backbone': {'type': 'SwinTransformer', 'arch': TINY_SWIN,
                   'img_size': 64, 'window_size': 4},
      'neck': {'type': 'GlobalAveragePooling'},
      'head': {'type': 'LinearClsHead', 'num_classes': 5,
               'in_channels': 64}},
     [1, 3, 112, 112]),
    ('swin_window',
     {'type': 'SwinTransformer', 'arch': TINY_SWIN, 'img_size': 48,
      'window_size': 4, 'out_indices': [2, 3], 'pad_small_map': True,
      'stage_cfgs': {'block_cfgs': {'window_size': 3}}},
     [1, 3, 48, 48]),
]

MSA_SIZES = [(8, 12), (7, 10)]


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


def main():
    register_all_modules()
    torch.manual_seed(0)
    tensors, cases = [], []
    for name, cfg, shape in CASES:
        m = MODELS.build(json.loads(json.dumps(cfg)))
        m.init_weights()
        m.eval()
        with torch.no_grad():
            for _, p in m.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p) * 0.1)
                elif p.abs().max() == 0:
                    p.normal_(0, 0.02)
        x = torch.randn(*shape)
        with torch.no_grad():
            if cfg['type'] == 'ImageClassifier':
                outs = [m(x, mode='tensor')]
            else:
                outs = list(m(x))
        tensors += [(f'{name}.sd.{k}', v) for k, v in m.state_dict().items()]
        tensors.append((f'{name}.x', x))
        tensors += [(f'{name}.out{i}', o) for i, o in enumerate(outs)]
        cases.append({'name': name, 'config': cfg, 'outputs': len(outs)})
    msa = ShiftWindowMSA(embed_dims=8, num_heads=2, window_size=4,
                         shift_size=2)
    msa.init_weights()
    msa.eval()
    with torch.no_grad():
        for _, p in msa.named_parameters():
            p.add_(torch.randn_like(p) * 0.1)
    tensors += [(f'msa.sd.{k}', v) for k, v in msa.state_dict().items()]
    for h, w in MSA_SIZES:
        x = torch.randn(1, h * w, 8)
        with torch.no_grad():
            y = msa(x, (h, w))
        tensors += [(f'msa.x.{h}x{w}', x), (f'msa.y.{h}x{w}', y)]
    st_dump(sys.argv[1], tensors, {'cases': json.dumps(cases)})


if __name__ == '__main__':
    main()
