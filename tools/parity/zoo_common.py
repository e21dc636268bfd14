"""Shared by zoo_torch.py, zoo_mmpretrain.py and precise_bn_mmpretrain.py: safetensors files read
and written with numpy (no safetensors package needed), the perturbation of
constant tensors, and the relative error the parity checks use."""
import json
import struct

import torch

CODES = {torch.float32: ('F32', 'f'), torch.int64: ('I64', 'q'),
         torch.uint8: ('U8', 'B')}
NP_TYPES = {'f': 'f4', 'q': 'i8', 'B': 'u1'}
FROM_CODE = {'F32': (torch.float32, 'f', 4), 'I64': (torch.int64, 'q', 8)}


def st_write(path, tensors, metadata):
    header, blobs, at = {'__metadata__': metadata}, [], 0
    for name, t in tensors:
        code, fmt = CODES[t.dtype]
        raw = t.detach().contiguous().numpy().astype(
            '<' + NP_TYPES[fmt]).tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape),
                        'data_offsets': [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def st_read(path):
    import numpy as np
    buf = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n])
    header.pop('__metadata__', None)
    data, out = buf[8 + n:], {}
    for name, e in header.items():
        dt, fmt, size = FROM_CODE[e['dtype']]
        b, end = e['data_offsets']
        arr = np.frombuffer(data[b:end],
                            dtype='<' + {'f': 'f4', 'q': 'i8'}[fmt])
        out[name] = torch.from_numpy(arr.copy()).to(dt).reshape(e['shape'])
    return out


def perturb(model, gen):
    """Random values for tensors that an init leaves constant."""
    with torch.no_grad():
        for name, t in list(model.state_dict(keep_vars=True).items()):
            if not t.is_floating_point() or t.numel() == 0:
                continue
            if t.numel() > 1 and float(t.std()) > 0:
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.numel() == 1 and t.ndim == 0:
                continue
            else:
                base = float(t.reshape(-1)[0])
                noise = torch.randn(t.shape, generator=gen) * 0.1
                t.copy_(base + noise if abs(base) >= 0.1 else noise)


def rel_err(a, b):
    scale = float(b.abs().max()) or 1.0
    return float((a.double() - b.double()).abs().max()) / scale


