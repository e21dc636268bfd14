#!/usr/bin/python3
"""Parity of mm's ops and optimizers with PyTorch.

Every case of the tables below runs twice on the same fresh random inputs:
in torch (Debian's python3-torch, /usr/bin/python3) and in mm, through the
driver program tests/parity/op_driver.c (built as build/tests/parity/op_driver),
forward and then backward with a random grad_output. Outputs and input
gradients (for optimizers: the parameters after every step and the final
state) must agree within rtol 1e-5 (f64) / 1e-4 (f32), with a small atol,
as torch.allclose counts it.

    /usr/bin/python3 tools/parity/ops_torch.py --driver build/tests/parity/op_driver
        [--seed N] [--only SUBSTR] [--dump DIR] [-v]

The seed is printed on every run; --seed N reproduces one. --dump DIR
writes each case as DIR/<case>.<dtype>.safetensors, which the driver runs
alone: `op_driver DIR/x.f32.safetensors out.safetensors`.

Adding an op: a row in OPS (name, mm op, input specs, torch callable,
args), and a row in the driver's `ops` table (docs/tensors.md, "Parity with
PyTorch"). Exit status: 0 all ok, 1 a case failed, 77 no torch.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import warnings

try:
    import torch
except ImportError:
    print('skipped: cannot import torch (apt-get install python3-torch)')
    sys.exit(77)
import torch.nn.functional as F  # noqa: E402

# ---- safetensors ---------------------------------------------------------

ST_DTYPES = {torch.float32: 'F32', torch.float64: 'F64',
             torch.float16: 'F16', torch.bfloat16: 'BF16',
             torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8',
             torch.bool: 'BOOL'}
ST_TORCH = {v: k for k, v in ST_DTYPES.items()}


def st_dump(tensors, metadata):
    """tensors: list of (name, tensor); metadata: dict of strings."""
    header, blobs, at = {'__metadata__': metadata}, [], 0
    for name, t in tensors:
        t = t.detach().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {'dtype': ST_DTYPES[t.dtype], 'shape': list(t.shape),
                        'data_offsets': [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + b''.join(blobs)


def st_load(buf):
    """-> (dict name -> tensor, metadata dict)."""
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    meta = header.pop('__metadata__', {}) or {}
    # mm writes every metadata value as JSON text (docs/checkpoints.md).
    meta = {k: json.loads(v) for k, v in meta.items()}
    out = {}
    for name, e in header.items():
        b, end = e['data_offsets']
        dt = ST_TORCH[e['dtype']]
        if end > b:
            t = torch.frombuffer(bytearray(data[b:end]), dtype=dt)
        else:
            t = torch.empty(0, dtype=dt)
        out[name] = t.reshape(e['shape'])
    return out, meta


class Driver:
    """The op driver in --stream mode: one frame in, one frame out."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path, '--stream'], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def run(self, blob):
        self.proc.stdin.write(struct.pack('<Q', len(blob)) + blob)
        self.proc.stdin.flush()
        head = self.proc.stdout.read(8)
        if len(head) != 8:
            raise RuntimeError('op_driver died (exit %s)' % self.proc.poll())
        (n,) = struct.unpack('<Q', head)
        return st_load(self.proc.stdout.read(n))

    def close(self):
        """The driver's exit status (non-zero: a leak or sanitizer report
        at exit, for instance)."""
        self.proc.stdin.close()
        return self.proc.wait()


# ---- inputs --------------------------------------------------------------

def randn(shape):
    return torch.randn(shape, dtype=torch.float64)


def positive(shape):  # ln
    return torch.rand(shape, dtype=torch.float64) * 2 + 0.25


def nonzero(shape):  # divisors
    sign = torch.randint(0, 2, shape, dtype=torch.int64) * 2 - 1
    return sign * (torch.rand(shape, dtype=torch.float64) * 1.5 + 0.5)


def small_ints(shape):  # integer inputs (drawn as floats, then converted)
    return torch.randint(-5, 6, shape).to(torch.float64)


class In:
    """An input: its shape, how its values are drawn, and a dtype that
    overrides the case's (an integer operand of a float op)."""

    def __init__(self, *shape, draw=randn, dtype=None):
        self.shape, self.draw, self.dtype = tuple(shape), draw, dtype


def I64(*shape):
    return In(*shape, draw=small_ints, dtype=torch.int64)


def P(*shape):
    return In(*shape, draw=positive)


def NZ(*shape):
    return In(*shape, draw=nonzero)


# ---- the op table --------------------------------------------------------

HALF = ('bf16', 'f16')


class Op:
    """name: the case; op: the driver's op name; ins: input specs (a tuple
    is shorthand for In(*tuple)); fn(xs, args) -> a tensor or a tuple of
    them, in torch; args: what the driver and fn get (the driver also reads
    noncontig = [input indices] and no_grad = [input indices]); error: torch
    raises and mm must fail too."""

    def __init__(self, name, op, ins, fn, args=None, noncontig=(),
                 error=False, dtypes=('f32', 'f64')):
        self.name, self.op, self.fn = name, op, fn
        self.ins = [i if isinstance(i, In) else In(*i) for i in ins]
        self.args = dict(args or {})
        if noncontig:
            self.args['noncontig'] = list(noncontig)
        self.error, self.dtypes = error, dtypes


def sl(xs, a):
    x = xs[0]
    idx = [slice(None)] * x.dim()
    idx[a['dim']] = slice(a.get('start'), a.get('end'), a.get('step'))
    return x[tuple(idx)]


def red(f):
    def run(xs, a):
        if 'dim' in a:
            return f(xs[0], dim=a['dim'], keepdim=a.get('keepdim', False))
        return f(xs[0])
    return run


def binary(name, f, alpha=False):
    fa = (lambda xs, a: f(xs[0], xs[1], alpha=a['alpha'])) if alpha else None
    fb = lambda xs, a: f(xs[0], xs[1])
    d = NZ if name == 'div' else In
    rows = [
        Op(name + '_same', name, [(3, 4), d(3, 4)], fb, noncontig=[0, 1]),
        Op(name + '_broadcast', name, [(2, 3, 4), d(3, 1)], fb),
        Op(name + '_outer', name, [(4, 1), d(1, 5)], fb, noncontig=[0]),
        Op(name + '_0dim', name, [(), d(2, 3)], fb),
        Op(name + '_empty', name, [(0, 3), d(3)], fb),
        Op(name + '_error', name, [(2, 3), d(4)], fb, error=True),
    ]
    if alpha:
        rows.append(Op(name + '_alpha', name, [(2, 3), (3,)], fa,
                       args={'alpha': -2.5}))
    return rows


def unary(name, f, draw=In):
    return [
        Op(name, name, [draw(3, 5)], lambda xs, a: f(xs[0]), noncontig=[0]),
        Op(name + '_1d', name, [draw(7)], lambda xs, a: f(xs[0]),
           noncontig=[0]),
        Op(name + '_0dim', name, [draw()], lambda xs, a: f(xs[0])),
    ]


def scalar(name, f, s):
    return [Op(name, name, [(2, 3)], lambda xs, a: f(xs[0], a['scalar']),
               args={'scalar': s}, noncontig=[0])]


OPS = [
    # elementwise
    *binary('add', torch.add, alpha=True),
    *binary('sub', torch.sub, alpha=True),
    *binary('mul', torch.mul),
    *binary('div', torch.div),
    *scalar('add_scalar', lambda x, s: x + s, 2.5),
    *scalar('sub_scalar', lambda x, s: x - s, -1.25),
    *scalar('mul_scalar', lambda x, s: x * s, -3.0),
    *scalar('div_scalar', lambda x, s: x / s, 0.75),
    *unary('neg', torch.neg),
    *unary('exp', torch.exp),
    *unary('ln', torch.log, draw=P),
    *unary('relu', torch.relu),
    *unary('sigmoid', torch.sigmoid),
    *unary('tanh', torch.tanh),
    # reductions
    Op('sum_all', 'sum', [(3, 4, 5)], red(torch.sum), noncontig=[0]),
    Op('sum_dim', 'sum', [(3, 4, 5)], red(torch.sum), args={'dim': 1}),
    Op('sum_dims_keepdim', 'sum', [(3, 4, 5)], red(torch.sum),
       args={'dim': [0, 2], 'keepdim': True}, noncontig=[0]),
    Op('sum_negdim', 'sum', [(3, 4)], red(torch.sum),
       args={'dim': -1, 'keepdim': True}),
    Op('sum_empty', 'sum', [(0, 3)], red(torch.sum), args={'dim': 0}),
    Op('sum_dim_error', 'sum', [(3, 4)], red(torch.sum), args={'dim': 2},
       error=True),
    Op('mean_all', 'mean', [(3, 4, 5)], red(torch.mean)),
    Op('mean_dim', 'mean', [(3, 4, 5)], red(torch.mean), args={'dim': -2},
       noncontig=[0]),
    Op('mean_dims_keepdim', 'mean', [(3, 4, 5)], red(torch.mean),
       args={'dim': [0, 1], 'keepdim': True}),
    # linear algebra
    Op('matmul_2d', 'matmul', [(3, 4), (4, 5)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_2d_noncontig', 'matmul', [(3, 4), (4, 5)],
       lambda xs, a: torch.matmul(*xs), noncontig=[0, 1]),
    Op('matmul_dot', 'matmul', [(6,), (6,)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_vec_mat', 'matmul', [(4,), (4, 5)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_mat_vec', 'matmul', [(3, 4), (4,)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_batched', 'matmul', [(2, 3, 4), (2, 4, 5)],
       lambda xs, a: torch.matmul(*xs), noncontig=[1]),
    Op('matmul_batch_broadcast', 'matmul', [(2, 1, 3, 4), (3, 4, 2)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_vec_batched', 'matmul', [(5,), (2, 5, 3)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_batched_vec', 'matmul', [(2, 3, 5), (5,)],
       lambda xs, a: torch.matmul(*xs)),
    Op('matmul_large', 'matmul', [(48, 96), (96, 40)],
       lambda xs, a: torch.matmul(*xs)),
    Op('bmm', 'bmm', [(3, 2, 4), (3, 4, 5)],
       lambda xs, a: torch.bmm(*xs), noncontig=[0]),
    Op('bmm_batch_mismatch', 'bmm', [(3, 2, 4), (1, 4, 5)],
       lambda xs, a: torch.bmm(*xs), error=True),
    Op('bmm_not_3d', 'bmm', [(2, 4), (4, 5)],
       lambda xs, a: torch.bmm(*xs), error=True),
    Op('matmul_no_grad', 'matmul', [(3, 4), (4, 2)],
       lambda xs, a: torch.matmul(*xs), args={'no_grad': [1]}),
    Op('matmul_error', 'matmul', [(2, 3), (4, 5)],
       lambda xs, a: torch.matmul(*xs), error=True),
    # views and shape ops
    Op('reshape', 'reshape', [(2, 3, 4)],
       lambda xs, a: xs[0].reshape(a['shape']), args={'shape': [4, -1]}),
    Op('reshape_copy', 'reshape', [(2, 3, 4)],
       lambda xs, a: xs[0].reshape(a['shape']), args={'shape': [6, 4]},
       noncontig=[0]),
    Op('reshape_error', 'reshape', [(2, 3)],
       lambda xs, a: xs[0].reshape(a['shape']), args={'shape': [4, -1]},
       error=True),
    Op('view', 'view', [(2, 3, 4)],
       lambda xs, a: xs[0].view(a['shape']), args={'shape': [2, 12]}),
    Op('view_error', 'view', [(2, 3, 4)],
       lambda xs, a: xs[0].view(a['shape']), args={'shape': [24]},
       noncontig=[0], error=True),
    Op('permute', 'permute', [(2, 3, 4)],
       lambda xs, a: xs[0].permute(a['dims']), args={'dims': [2, 0, -2]}),
    Op('permute_error', 'permute', [(2, 3, 4)],
       lambda xs, a: xs[0].permute(a['dims']), args={'dims': [0, 1]},
       error=True),
    Op('transpose', 'transpose', [(2, 3, 4)],
       lambda xs, a: xs[0].transpose(a['dim0'], a['dim1']),
       args={'dim0': 0, 'dim1': -1}, noncontig=[0]),
    Op('narrow', 'narrow', [(4, 5)],
       lambda xs, a: xs[0].narrow(a['dim'], a['start'], a['length']),
       args={'dim': 1, 'start': 1, 'length': 3}),
    Op('narrow_negative_start', 'narrow', [(4, 5)],
       lambda xs, a: xs[0].narrow(a['dim'], a['start'], a['length']),
       args={'dim': 0, 'start': -3, 'length': 2}, noncontig=[0]),
    Op('narrow_error', 'narrow', [(4, 5)],
       lambda xs, a: xs[0].narrow(a['dim'], a['start'], a['length']),
       args={'dim': 1, 'start': 3, 'length': 3}, error=True),
    Op('slice_step', 'slice', [(4, 9)], sl,
       args={'dim': 1, 'start': 1, 'end': 8, 'step': 3}),
    Op('slice_negative', 'slice', [(6, 4)], sl,
       args={'dim': 0, 'start': -5, 'end': -1, 'step': 2}, noncontig=[0]),
    Op('slice_clamped', 'slice', [(3, 4)], sl,
       args={'dim': -1, 'start': 2, 'end': 100}),
    Op('slice_to_end', 'slice', [(5, 3)], sl,
       args={'dim': 0, 'start': 1, 'step': 2}),
    Op('select', 'select', [(3, 4, 5)],
       lambda xs, a: xs[0].select(a['dim'], a['index']),
       args={'dim': -1, 'index': -2}),
    Op('select_error', 'select', [(3, 4)],
       lambda xs, a: xs[0].select(a['dim'], a['index']),
       args={'dim': 0, 'index': 3}, error=True),
    Op('expand', 'expand', [(3, 1)],
       lambda xs, a: xs[0].expand(a['shape']), args={'shape': [2, 3, 4]}),
    Op('expand_keep', 'expand', [(1, 4)],
       lambda xs, a: xs[0].expand(a['shape']), args={'shape': [3, -1]}),
    Op('expand_error', 'expand', [(2, 4)],
       lambda xs, a: xs[0].expand(a['shape']), args={'shape': [3, 4]},
       error=True),
    Op('squeeze_dim', 'squeeze', [(3, 1, 4)],
       lambda xs, a: xs[0].squeeze(a['dim']), args={'dim': 1}),
    Op('squeeze_noop', 'squeeze', [(3, 2)],
       lambda xs, a: xs[0].squeeze(a['dim']), args={'dim': 0}),
    Op('squeeze_all', 'squeeze', [(1, 3, 1, 2)],
       lambda xs, a: xs[0].squeeze()),
    Op('unsqueeze', 'unsqueeze', [(3, 4)],
       lambda xs, a: xs[0].unsqueeze(a['dim']), args={'dim': -1}),
    Op('unsqueeze_front', 'unsqueeze', [(3, 4)],
       lambda xs, a: xs[0].unsqueeze(a['dim']), args={'dim': 0},
       noncontig=[0]),
    Op('flatten', 'flatten', [(2, 3, 4, 5)],
       lambda xs, a: xs[0].flatten(a['start_dim'], a['end_dim']),
       args={'start_dim': 1, 'end_dim': 2}),
    Op('flatten_all', 'flatten', [(2, 3, 4)],
       lambda xs, a: xs[0].flatten(), noncontig=[0]),
    Op('cat', 'cat', [(2, 3), (2, 1), (2, 4)],
       lambda xs, a: torch.cat(xs, a['dim']), args={'dim': 1},
       noncontig=[0]),
    Op('cat_dim0', 'cat', [(1, 3), (4, 3)],
       lambda xs, a: torch.cat(xs, a['dim']), args={'dim': -2}),
    Op('cat_error', 'cat', [(2, 3), (3, 2)],
       lambda xs, a: torch.cat(xs, a['dim']), args={'dim': 0},
       error=True),
    Op('stack', 'stack', [(2, 3), (2, 3), (2, 3)],
       lambda xs, a: torch.stack(xs, a['dim']), args={'dim': 1}),
    Op('stack_last', 'stack', [(4,), (4,)],
       lambda xs, a: torch.stack(xs, a['dim']), args={'dim': -1}),
    Op('split', 'split', [(3, 7)],
       lambda xs, a: torch.split(xs[0], a['split_size'], a['dim']),
       args={'split_size': 3, 'dim': 1}),
    Op('split_even', 'split', [(4, 2)],
       lambda xs, a: torch.split(xs[0], a['split_size'], a['dim']),
       args={'split_size': 2, 'dim': 0}, noncontig=[0]),
    Op('chunk', 'chunk', [(7, 3)],
       lambda xs, a: torch.chunk(xs[0], a['chunks'], a['dim']),
       args={'chunks': 3, 'dim': 0}),
    Op('chunk_fewer', 'chunk', [(3, 6)],
       lambda xs, a: torch.chunk(xs[0], a['chunks'], a['dim']),
       args={'chunks': 4, 'dim': -1}),
    Op('flip', 'flip', [(2, 3, 4)],
       lambda xs, a: torch.flip(xs[0], a['dims']), args={'dims': [0, 2]},
       noncontig=[0]),
    Op('flip_negative', 'flip', [(3, 4)],
       lambda xs, a: torch.flip(xs[0], a['dims']), args={'dims': [-1]}),
    Op('repeat', 'repeat', [(2, 3)],
       lambda xs, a: xs[0].repeat(a['reps']), args={'reps': [2, 3]}),
    Op('repeat_new_dims', 'repeat', [(2, 3)],
       lambda xs, a: xs[0].repeat(a['reps']), args={'reps': [2, 1, 2]},
       noncontig=[0]),
    Op('contiguous', 'contiguous', [(3, 4)],
       lambda xs, a: xs[0].contiguous(), noncontig=[0]),
    Op('contiguous_noop', 'contiguous', [(3, 4)],
       lambda xs, a: xs[0].contiguous()),
    Op('clone', 'clone', [(3, 4)], lambda xs, a: xs[0].clone()),
    Op('to_f64', 'to_dtype', [(3, 4)],
       lambda xs, a: xs[0].to(torch.float64), args={'dtype': 'f64'},
       noncontig=[0]),
    Op('to_f32', 'to_dtype', [(3, 4)],
       lambda xs, a: xs[0].to(torch.float32), args={'dtype': 'f32'}),
    # dtype promotion: integer operands
    Op('add_int_float', 'add', [I64(2, 3), (3,)],
       lambda xs, a: torch.add(*xs)),
    Op('mul_float_int', 'mul', [(2, 3), I64(2, 1)],
       lambda xs, a: torch.mul(*xs)),
    Op('add_scalar_int', 'add_scalar', [I64(2, 3)],
       lambda xs, a: xs[0] + a['scalar'], args={'scalar': 2.5},
       dtypes=('i64',)),
    Op('mul_scalar_int', 'mul_scalar', [I64(2, 3)],
       lambda xs, a: xs[0] * a['scalar'], args={'scalar': 3},
       dtypes=('i64',)),
    Op('add_ints', 'add', [(2, 3), (3,)], lambda xs, a: torch.add(*xs),
       dtypes=('i64',)),
    Op('div_ints', 'div', [(2, 3), NZ(3)], lambda xs, a: torch.div(*xs),
       dtypes=('i64',)),
    Op('exp_int', 'exp', [(2, 3)], lambda xs, a: torch.exp(xs[0]),
       dtypes=('i64',)),
    Op('sum_int', 'sum', [(3, 4)], red(torch.sum), args={'dim': 1},
       dtypes=('i64',)),
    Op('mean_int_error', 'mean', [(3, 4)], red(torch.mean), error=True,
       dtypes=('i64',)),
    Op('cat_int', 'cat', [(2, 3), (1, 3)],
       lambda xs, a: torch.cat(xs, a['dim']), args={'dim': 0},
       dtypes=('i64',)),
]

# ---- inputs of the nn, reduction and indexing cases --------------------------

def Idx(*shape, hi):
    """An i64 index tensor with values in [0, hi)."""
    return In(*shape, draw=lambda s: torch.randint(0, hi, s).double(),
              dtype=torch.int64)


def Perm(*shape, n, dim):
    """An i64 index without repeats along dim (values in [0, n)): scatter's
    result is unspecified for duplicate indices."""
    def draw(s):
        full = list(s)
        full[dim] = n
        return torch.rand(full).argsort(dim).narrow(dim, 0, s[dim]).double()
    return In(*shape, draw=draw, dtype=torch.int64)


def Bool(*shape):
    return In(*shape, draw=lambda s: (torch.rand(s) < 0.5).double(),
              dtype=torch.bool)


def Ints(*shape):
    """Small integer values in the case's dtype (ties and zeros on purpose)."""
    return In(*shape, draw=lambda s: torch.randint(-2, 3, s).double())


def Grid(*shape):
    """grid_sample coordinates: mostly inside [-1, 1], some outside."""
    return In(*shape, draw=lambda s: torch.rand(s, dtype=torch.float64) * 2.4
              - 1.2)


def Zero(*shape):
    """A placeholder for an input passed as None (args none=[i])."""
    return In(*shape, draw=lambda s: torch.zeros(s, dtype=torch.float64))


def opt(xs, a, i):
    return None if i in a.get('none', ()) or i >= len(xs) else xs[i]


def pick(a, *keys):
    return {k: a[k] for k in keys if k in a}


CONV_KW = ('stride', 'padding', 'dilation', 'groups')
CONVT_KW = ('stride', 'padding', 'output_padding', 'groups', 'dilation')
MAXP_KW = ('kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode',
           'return_indices')
AVGP_KW = ('kernel_size', 'stride', 'padding', 'ceil_mode',
           'count_include_pad', 'divisor_override')


def conv(name, f, kw):
    return lambda xs, a: f(xs[0], xs[1], opt(xs, a, 2), **pick(a, *kw))


def pool(f, kw):
    return lambda xs, a: f(xs[0], **pick(a, *kw))


def adaptive(f):
    def run(xs, a):
        size = [None if s < 0 else s for s in a['output_size']]
        return f(xs[0], size, **pick(a, 'return_indices'))
    return run


def stat_norm(instance):
    """F.batch_norm / F.instance_norm, returning the output and the running
    stats after the call (torch updates them in place, as mm)."""
    def run(xs, a):
        rm, rv = opt(xs, a, 1), opt(xs, a, 2)
        if instance:
            y = F.instance_norm(xs[0], rm, rv, opt(xs, a, 3), opt(xs, a, 4),
                                **pick(a, 'use_input_stats', 'momentum',
                                       'eps'))
        else:
            y = F.batch_norm(xs[0], rm, rv, opt(xs, a, 3), opt(xs, a, 4),
                             **pick(a, 'training', 'momentum', 'eps'))
        return (y,) + tuple(t for t in (rm, rv) if t is not None)
    return run


def sdpa(xs, a):
    """The math path of F.scaled_dot_product_attention as torch 2 implements
    it (torch 1.13 has no such function): bool and causal masks become an
    additive 0 / -inf mask, so a row that attends to nothing is NaN forward
    and backward."""
    q, k, v = xs[:3]
    mask = opt(xs, a, 3)
    scale = a.get('scale', 1 / math.sqrt(q.shape[-1]))
    att = q @ k.transpose(-2, -1) * scale
    L, S = q.shape[-2], k.shape[-2]
    def additive(keep):
        return torch.zeros(keep.shape, dtype=q.dtype).masked_fill(
            ~keep, float('-inf'))
    if a.get('is_causal'):
        att = att + additive(torch.ones(L, S, dtype=torch.bool).tril())
    if mask is not None:
        att = att + (additive(mask) if mask.dtype == torch.bool else mask)
    return torch.softmax(att, -1) @ v


def interp(xs, a):
    return F.interpolate(xs[0], **pick(a, 'size', 'scale_factor', 'mode',
                                       'align_corners'))


def gsample(xs, a):
    return F.grid_sample(xs[0], xs[1], **pick(a, 'mode', 'padding_mode',
                                               'align_corners'))


def red_all(f):
    """Reductions whose torch form wants a dim: none given means all."""
    def run(xs, a):
        x = xs[0]
        dim = a.get('dim', list(range(x.dim())))
        return f(x, dim, keepdim=a.get('keepdim', False))
    return run


def red1(f):
    """Reductions taking one int dim in torch (prod, all, any)."""
    def run(xs, a):
        if 'dim' in a:
            return f(xs[0], a['dim'], keepdim=a.get('keepdim', False))
        return f(xs[0])
    return run


def varstd(f):
    def run(xs, a):
        return f(xs[0], dim=a.get('dim'), correction=a.get('correction', 1),
                 keepdim=a.get('keepdim', False))
    return run


def vnorm(xs, a):
    return torch.linalg.vector_norm(xs[0], ord=a.get('p', 2), dim=a.get('dim'),
                                    keepdim=a.get('keepdim', False))


def argm(f):
    return lambda xs, a: f(xs[0], a.get('dim'), keepdim=a.get('keepdim',
                                                               False))


def unique(xs, a):
    return torch.unique(xs[0], **pick(a, 'sorted', 'return_inverse',
                                      'return_counts'))


conv_rows = [
    Op('conv1d', 'conv1d', [(2, 3, 9), (4, 3, 3), (4,)],
       conv('conv1d', F.conv1d, CONV_KW), noncontig=[0]),
    Op('conv1d_stride_pad_dil', 'conv1d', [(2, 4, 11), (6, 2, 3), (6,)],
       conv('conv1d', F.conv1d, CONV_KW),
       args={'stride': 2, 'padding': 2, 'dilation': 2, 'groups': 2}),
    Op('conv1d_unbatched_nobias', 'conv1d', [(3, 8), (2, 3, 2)],
       conv('conv1d', F.conv1d, CONV_KW)),
    Op('conv2d', 'conv2d', [(2, 3, 7, 6), (4, 3, 3, 3), (4,)],
       conv('conv2d', F.conv2d, CONV_KW), args={'padding': 1},
       noncontig=[0, 1]),
    Op('conv2d_stride_dil_asym', 'conv2d', [(1, 2, 9, 8), (3, 2, 3, 2), (3,)],
       conv('conv2d', F.conv2d, CONV_KW),
       args={'stride': [2, 1], 'padding': [1, 0], 'dilation': [2, 3]}),
    Op('conv2d_groups', 'conv2d', [(2, 4, 6, 6), (6, 2, 3, 3), (6,)],
       conv('conv2d', F.conv2d, CONV_KW), args={'groups': 2, 'stride': 2}),
    Op('conv2d_depthwise', 'conv2d', [(2, 3, 6, 5), (6, 1, 3, 3), (6,)],
       conv('conv2d', F.conv2d, CONV_KW), args={'groups': 3, 'padding': 1}),
    Op('conv2d_nobias', 'conv2d', [(1, 2, 5, 5), (3, 2, 1, 1), Zero(3)],
       conv('conv2d', F.conv2d, CONV_KW), args={'none': [2]}),
    Op('conv2d_unbatched', 'conv2d', [(2, 5, 5), (3, 2, 2, 2)],
       conv('conv2d', F.conv2d, CONV_KW)),
    Op('conv2d_weight_error', 'conv2d', [(1, 2, 5, 5), (3, 2, 2)],
       conv('conv2d', F.conv2d, CONV_KW), error=True),
    Op('conv2d_groups_error', 'conv2d', [(1, 3, 5, 5), (4, 1, 2, 2)],
       conv('conv2d', F.conv2d, CONV_KW), args={'groups': 2}, error=True),
    Op('conv2d_channels_error', 'conv2d', [(1, 3, 5, 5), (4, 2, 2, 2)],
       conv('conv2d', F.conv2d, CONV_KW), error=True),
    Op('conv2d_too_small_error', 'conv2d', [(1, 2, 2, 2), (4, 2, 3, 3)],
       conv('conv2d', F.conv2d, CONV_KW), error=True),
    Op('conv3d', 'conv3d', [(1, 2, 5, 4, 5), (3, 2, 2, 3, 2), (3,)],
       conv('conv3d', F.conv3d, CONV_KW),
       args={'stride': [1, 2, 1], 'padding': [1, 0, 1]}),
    Op('conv3d_groups_dil', 'conv3d', [(2, 4, 5, 5, 5), (4, 2, 2, 2, 2), (4,)],
       conv('conv3d', F.conv3d, CONV_KW), args={'groups': 2, 'dilation': 2},
       noncontig=[0]),
    Op('conv_transpose1d', 'conv_transpose1d', [(2, 3, 5), (3, 2, 3), (2,)],
       conv('ct1', F.conv_transpose1d, CONVT_KW),
       args={'stride': 2, 'padding': 1, 'output_padding': 1}),
    Op('conv_transpose2d', 'conv_transpose2d', [(2, 4, 4, 3),
                                                (4, 3, 3, 3), (3,)],
       conv('ct2', F.conv_transpose2d, CONVT_KW),
       args={'stride': [2, 3], 'padding': [1, 0], 'output_padding': [1, 2]},
       noncontig=[0]),
    Op('conv_transpose2d_groups_dil', 'conv_transpose2d',
       [(1, 4, 4, 4), (4, 3, 2, 3), (6,)],
       conv('ct2', F.conv_transpose2d, CONVT_KW),
       args={'groups': 2, 'dilation': [2, 1], 'stride': 2,
             'output_padding': 1}),
    Op('conv_transpose2d_nobias', 'conv_transpose2d',
       [(1, 2, 3, 3), (2, 2, 2, 2), Zero(2)],
       conv('ct2', F.conv_transpose2d, CONVT_KW), args={'none': [2]}),
    Op('conv_transpose2d_output_padding_error', 'conv_transpose2d',
       [(1, 2, 3, 3), (2, 2, 2, 2)],
       conv('ct2', F.conv_transpose2d, CONVT_KW),
       args={'stride': 2, 'output_padding': 2}, error=True),
    Op('conv_transpose3d', 'conv_transpose3d',
       [(1, 2, 3, 3, 2), (2, 2, 2, 2, 2), (2,)],
       conv('ct3', F.conv_transpose3d, CONVT_KW),
       args={'stride': 2, 'padding': [0, 1, 0], 'output_padding': [1, 0, 1]}),
    # pooling (random inputs: no ties in a window)
    Op('max_pool1d', 'max_pool1d', [(2, 3, 9)], pool(F.max_pool1d, MAXP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'return_indices': True}),
    Op('max_pool2d', 'max_pool2d', [(2, 3, 7, 6)],
       pool(F.max_pool2d, MAXP_KW), args={'kernel_size': 2},
       noncontig=[0]),
    Op('max_pool2d_indices', 'max_pool2d', [(2, 3, 7, 6)],
       pool(F.max_pool2d, MAXP_KW),
       args={'kernel_size': [3, 2], 'stride': [2, 1], 'padding': [1, 1],
             'return_indices': True}),
    Op('max_pool2d_ceil_dil', 'max_pool2d', [(1, 2, 8, 7)],
       pool(F.max_pool2d, MAXP_KW),
       args={'kernel_size': 2, 'stride': 2, 'dilation': 2, 'ceil_mode': True,
             'return_indices': True}),
    Op('max_pool2d_ceil', 'max_pool2d', [(2, 7, 7)],
       pool(F.max_pool2d, MAXP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'ceil_mode': True}),
    Op('max_pool2d_pad_error', 'max_pool2d', [(1, 1, 6, 6)],
       pool(F.max_pool2d, MAXP_KW), args={'kernel_size': 2, 'padding': 2},
       error=True),
    Op('max_pool3d', 'max_pool3d', [(1, 2, 5, 6, 5)],
       pool(F.max_pool3d, MAXP_KW),
       args={'kernel_size': [2, 3, 2], 'stride': 2, 'padding': [1, 1, 0],
             'return_indices': True}),
    Op('max_pool3d_ceil', 'max_pool3d', [(2, 5, 5, 5)],
       pool(F.max_pool3d, MAXP_KW),
       args={'kernel_size': 2, 'stride': 2, 'ceil_mode': True}),
    Op('avg_pool1d', 'avg_pool1d', [(2, 3, 9)], pool(F.avg_pool1d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'count_include_pad': False, 'ceil_mode': True}),
    Op('avg_pool2d', 'avg_pool2d', [(2, 3, 7, 6)],
       pool(F.avg_pool2d, AVGP_KW), args={'kernel_size': 2},
       noncontig=[0]),
    Op('avg_pool2d_pad', 'avg_pool2d', [(2, 3, 7, 6)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1}),
    Op('avg_pool2d_pad_exclude_ceil', 'avg_pool2d', [(1, 2, 8, 7)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': [3, 2], 'stride': 2, 'padding': 1,
             'ceil_mode': True, 'count_include_pad': False}),
    Op('avg_pool2d_ceil_include', 'avg_pool2d', [(1, 2, 8, 7)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'ceil_mode': True}),
    Op('avg_pool2d_divisor', 'avg_pool2d', [(2, 6, 6)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': 2, 'padding': 1, 'divisor_override': 3}),
    Op('avg_pool2d_pad_error', 'avg_pool2d', [(1, 1, 6, 6)],
       pool(F.avg_pool2d, AVGP_KW), args={'kernel_size': 2, 'padding': 2},
       error=True),
    Op('avg_pool3d', 'avg_pool3d', [(1, 2, 5, 6, 5)],
       pool(F.avg_pool3d, AVGP_KW),
       args={'kernel_size': 2, 'stride': [2, 1, 2], 'padding': 1,
             'ceil_mode': True, 'count_include_pad': False}),
    Op('avg_pool3d_divisor', 'avg_pool3d', [(1, 2, 4, 4, 4)],
       pool(F.avg_pool3d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'divisor_override': 5}),
    Op('adaptive_avg_pool2d', 'adaptive_avg_pool2d', [(2, 3, 7, 5)],
       adaptive(F.adaptive_avg_pool2d), args={'output_size': [3, 4]},
       noncontig=[0]),
    Op('adaptive_avg_pool2d_none', 'adaptive_avg_pool2d', [(3, 6, 5)],
       adaptive(F.adaptive_avg_pool2d), args={'output_size': [4, -1]}),
    Op('adaptive_avg_pool2d_global', 'adaptive_avg_pool2d', [(2, 3, 5, 4)],
       adaptive(F.adaptive_avg_pool2d), args={'output_size': [1, 1]}),
    Op('adaptive_max_pool2d', 'adaptive_max_pool2d', [(2, 3, 7, 5)],
       adaptive(F.adaptive_max_pool2d),
       args={'output_size': [3, 2], 'return_indices': True}),
    Op('adaptive_max_pool2d_up', 'adaptive_max_pool2d', [(1, 2, 3, 4)],
       adaptive(F.adaptive_max_pool2d), args={'output_size': [5, 4]}),
    Op('adaptive_avg_pool1d', 'adaptive_avg_pool1d', [(2, 3, 11)],
       adaptive(F.adaptive_avg_pool1d), args={'output_size': [4]},
       noncontig=[0]),
    Op('adaptive_avg_pool1d_up', 'adaptive_avg_pool1d', [(3, 5)],
       adaptive(F.adaptive_avg_pool1d), args={'output_size': [8]}),
    Op('adaptive_avg_pool1d_error', 'adaptive_avg_pool1d', [(2, 3, 4, 5)],
       adaptive(F.adaptive_avg_pool1d), args={'output_size': [2]},
       error=True),
    Op('adaptive_max_pool1d', 'adaptive_max_pool1d', [(2, 3, 11)],
       adaptive(F.adaptive_max_pool1d),
       args={'output_size': [4], 'return_indices': True}, noncontig=[0]),
    Op('adaptive_max_pool1d_up', 'adaptive_max_pool1d', [(3, 5)],
       adaptive(F.adaptive_max_pool1d),
       args={'output_size': [7], 'return_indices': True}),
    Op('adaptive_avg_pool3d', 'adaptive_avg_pool3d', [(2, 3, 5, 7, 6)],
       adaptive(F.adaptive_avg_pool3d), args={'output_size': [2, 3, 4]},
       noncontig=[0]),
    Op('adaptive_avg_pool3d_none', 'adaptive_avg_pool3d', [(3, 4, 5, 6)],
       adaptive(F.adaptive_avg_pool3d), args={'output_size': [6, -1, 4]}),
    Op('adaptive_avg_pool3d_global', 'adaptive_avg_pool3d', [(2, 8, 4, 7, 7)],
       adaptive(F.adaptive_avg_pool3d), args={'output_size': [1, 1, 1]}),
    Op('adaptive_avg_pool3d_error', 'adaptive_avg_pool3d', [(4, 5, 6)],
       adaptive(F.adaptive_avg_pool3d), args={'output_size': [1, 2, 1]},
       error=True),
    Op('adaptive_max_pool3d_error', 'adaptive_max_pool3d', [(4, 5, 6)],
       adaptive(F.adaptive_max_pool3d), args={'output_size': [1, 2, 1]},
       error=True),
    Op('adaptive_max_pool3d', 'adaptive_max_pool3d', [(2, 3, 5, 7, 6)],
       adaptive(F.adaptive_max_pool3d),
       args={'output_size': [2, 3, 4], 'return_indices': True},
       noncontig=[0]),
    Op('adaptive_max_pool3d_up', 'adaptive_max_pool3d', [(1, 2, 3, 4, 2)],
       adaptive(F.adaptive_max_pool3d),
       args={'output_size': [4, -1, 3], 'return_indices': True}),
]

SN = {'no_grad': [1, 2]}
norm_rows = [
    Op('softmax', 'softmax', [(3, 5)],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': -1},
       noncontig=[0]),
    Op('softmax_dim0', 'softmax', [(4, 3, 2)],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 0}),
    Op('softmax_dim_error', 'softmax', [(4, 3)],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 2},
       error=True),
    Op('log_softmax', 'log_softmax', [(3, 5)],
       lambda xs, a: torch.log_softmax(xs[0], a['dim']), args={'dim': 1}),
    Op('log_softmax_mid', 'log_softmax', [(2, 6, 3)],
       lambda xs, a: torch.log_softmax(xs[0], a['dim']), args={'dim': -2},
       noncontig=[0]),
    Op('batch_norm_train', 'batch_norm',
       [(4, 3, 5), (3,), P(3), (3,), (3,)], stat_norm(False),
       args=dict(SN, training=True, momentum=0.2)),
    Op('batch_norm_train_2d', 'batch_norm',
       [(3, 2, 4, 3), (2,), P(2), (2,), (2,)], stat_norm(False),
       args=dict(SN, training=True, eps=1e-3), noncontig=[0]),
    Op('batch_norm_train_no_stats_affine', 'batch_norm',
       [(5, 3), Zero(3), Zero(3), Zero(3), Zero(3)], stat_norm(False),
       args={'training': True, 'none': [1, 2, 3, 4]}),
    Op('batch_norm_eval', 'batch_norm',
       [(4, 3, 5), (3,), P(3), (3,), (3,)], stat_norm(False),
       args=dict(SN, training=False)),
    Op('batch_norm_eval_no_affine', 'batch_norm',
       [(2, 3, 4, 2), (3,), P(3), Zero(3), Zero(3)], stat_norm(False),
       args=dict(training=False, no_grad=[1, 2], none=[3, 4])),
    Op('batch_norm_eval_no_stats_error', 'batch_norm',
       [(4, 3), Zero(3), Zero(3), (3,), (3,)], stat_norm(False),
       args={'training': False, 'none': [1, 2]}, error=True),
    Op('batch_norm_one_value_error', 'batch_norm',
       [(1, 3), (3,), P(3), (3,), (3,)], stat_norm(False),
       args=dict(SN, training=True), error=True),
    Op('batch_norm_channels_error', 'batch_norm',
       [(4, 3), (4,), P(4), (4,), (4,)], stat_norm(False),
       args=dict(SN, training=True), error=True),
    Op('instance_norm', 'instance_norm',
       [(2, 3, 4, 5), Zero(3), Zero(3), (3,), (3,)], stat_norm(True),
       args={'none': [1, 2]}),
    Op('instance_norm_running', 'instance_norm',
       [(3, 2, 6), (2,), P(2), Zero(2), Zero(2)], stat_norm(True),
       args=dict(no_grad=[1, 2], none=[3, 4], momentum=0.3)),
    Op('instance_norm_eval', 'instance_norm',
       [(2, 2, 5), (2,), P(2), (2,), (2,)], stat_norm(True),
       args=dict(SN, use_input_stats=False)),
    Op('layer_norm', 'layer_norm', [(3, 4, 5), (5,), (5,)],
       lambda xs, a: F.layer_norm(xs[0], a['normalized_shape'], xs[1], xs[2]),
       args={'normalized_shape': [5]}, noncontig=[0]),
    Op('layer_norm_2d_eps', 'layer_norm', [(2, 3, 4), (3, 4), (3, 4)],
       lambda xs, a: F.layer_norm(xs[0], a['normalized_shape'], xs[1], xs[2],
                                  a['eps']),
       args={'normalized_shape': [3, 4], 'eps': 1e-3}),
    Op('layer_norm_no_affine', 'layer_norm', [(4, 6), Zero(6), Zero(6)],
       lambda xs, a: F.layer_norm(xs[0], a['normalized_shape']),
       args={'normalized_shape': [6], 'none': [1, 2]}),
    Op('layer_norm_shape_error', 'layer_norm', [(3, 4), (5,), (5,)],
       lambda xs, a: F.layer_norm(xs[0], a['normalized_shape'], xs[1], xs[2]),
       args={'normalized_shape': [5]}, error=True),
    Op('group_norm', 'group_norm', [(2, 6, 3, 2), (6,), (6,)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], xs[1], xs[2]),
       args={'num_groups': 3}, noncontig=[0]),
    Op('group_norm_3d_no_affine', 'group_norm', [(3, 4, 5), Zero(4), Zero(4)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], eps=a['eps']),
       args={'num_groups': 2, 'eps': 1e-4, 'none': [1, 2]}),
    Op('group_norm_groups_error', 'group_norm', [(2, 6, 3), (6,), (6,)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], xs[1], xs[2]),
       args={'num_groups': 4}, error=True),
    Op('linear', 'linear', [(3, 4), (5, 4), (5,)],
       lambda xs, a: F.linear(*xs), noncontig=[0, 1]),
    Op('linear_batched_nobias', 'linear', [(2, 3, 4), (6, 4)],
       lambda xs, a: F.linear(*xs)),
    Op('linear_1d', 'linear', [(4,), (3, 4), (3,)],
       lambda xs, a: F.linear(*xs)),
    Op('linear_error', 'linear', [(3, 4), (5, 3)],
       lambda xs, a: F.linear(*xs), error=True),
    Op('dropout_p0', 'dropout', [(3, 4)],
       lambda xs, a: F.dropout(xs[0], a['p'], a['training']),
       args={'p': 0.0, 'training': True}),
    Op('dropout_eval', 'dropout', [(3, 4)],
       lambda xs, a: F.dropout(xs[0], a['p'], a['training']),
       args={'p': 0.5, 'training': False}),
    Op('sdpa', 'scaled_dot_product_attention', [(2, 4, 3), (2, 5, 3),
                                                (2, 5, 2)],
       sdpa, noncontig=[1]),
    Op('sdpa_heads_scale', 'scaled_dot_product_attention',
       [(2, 2, 3, 4), (2, 2, 3, 4), (2, 2, 3, 4)], sdpa,
       args={'scale': 0.3}),
    Op('sdpa_causal', 'scaled_dot_product_attention',
       [(2, 4, 3), (2, 4, 3), (2, 4, 2)], sdpa,
       args={'is_causal': True, 'dropout_p': 0.0}),
    Op('sdpa_bool_mask', 'scaled_dot_product_attention',
       [(2, 3, 4), (2, 5, 4), (2, 5, 3),
        In(3, 5, draw=lambda s: torch.cat([torch.ones(3, 1),
                                           (torch.rand(3, 4) < .6)], 1)
           .double(), dtype=torch.bool)], sdpa),
    Op('sdpa_float_mask', 'scaled_dot_product_attention',
       [(2, 3, 4), (2, 5, 4), (2, 5, 3), (2, 1, 5)], sdpa),
    Op('sdpa_shape_error', 'scaled_dot_product_attention',
       [(2, 3, 4), (2, 5, 3), (2, 5, 3)], sdpa, error=True),
    # resampling
    Op('interpolate_nearest_size', 'interpolate', [(2, 3, 4, 5)], interp,
       args={'size': [7, 3], 'mode': 'nearest'}, noncontig=[0]),
    Op('interpolate_nearest_scale', 'interpolate', [(1, 2, 3, 4)], interp,
       args={'scale_factor': [2.0, 1.5], 'mode': 'nearest'}),
    Op('interpolate_bilinear', 'interpolate', [(2, 2, 4, 5)], interp,
       args={'size': [7, 8], 'mode': 'bilinear', 'align_corners': False}),
    Op('interpolate_bilinear_ac', 'interpolate', [(2, 2, 4, 5)], interp,
       args={'size': [7, 3], 'mode': 'bilinear', 'align_corners': True}),
    Op('interpolate_bilinear_scale', 'interpolate', [(1, 2, 5, 4)], interp,
       args={'scale_factor': [0.6, 2.5], 'mode': 'bilinear',
             'align_corners': False}),
    Op('interpolate_bilinear_scale_ac', 'interpolate', [(1, 2, 3, 4)], interp,
       args={'scale_factor': 2.0, 'mode': 'bilinear',
             'align_corners': True}),
    Op('interpolate_bicubic', 'interpolate', [(1, 2, 4, 5)], interp,
       args={'size': [9, 6], 'mode': 'bicubic', 'align_corners': False}),
    Op('interpolate_bicubic_ac_scale', 'interpolate', [(1, 2, 4, 3)], interp,
       args={'scale_factor': [1.5, 2.0], 'mode': 'bicubic',
             'align_corners': True}),
    Op('interpolate_both_error', 'interpolate', [(1, 2, 4, 3)], interp,
       args={'size': [2, 2], 'scale_factor': 2.0, 'mode': 'nearest'},
       error=True),
    Op('interpolate_nearest_ac_error', 'interpolate', [(1, 2, 4, 3)], interp,
       args={'size': [2, 2], 'mode': 'nearest', 'align_corners': True},
       error=True),
    Op('interpolate_1d_nearest', 'interpolate', [(2, 3, 7)], interp,
       args={'size': 11, 'mode': 'nearest'}, noncontig=[0]),
    Op('interpolate_1d_nearest_scale', 'interpolate', [(2, 3, 7)], interp,
       args={'scale_factor': 1.7, 'mode': 'nearest'}),
    Op('interpolate_1d_linear', 'interpolate', [(2, 3, 7)], interp,
       args={'size': 11, 'mode': 'linear'}, noncontig=[0]),
    Op('interpolate_1d_linear_ac', 'interpolate', [(2, 3, 7)], interp,
       args={'size': 4, 'mode': 'linear', 'align_corners': True}),
    Op('interpolate_1d_linear_scale', 'interpolate', [(2, 3, 7)], interp,
       args={'scale_factor': [0.6], 'mode': 'linear'}),
    Op('interpolate_1d_linear_scale_ac', 'interpolate', [(2, 3, 7)], interp,
       args={'scale_factor': 2.5, 'mode': 'linear', 'align_corners': True}),
    Op('interpolate_3d_nearest', 'interpolate', [(1, 2, 3, 4, 5)], interp,
       args={'size': [5, 6, 7], 'mode': 'nearest'}, noncontig=[0]),
    Op('interpolate_3d_nearest_scale', 'interpolate', [(1, 2, 3, 4, 5)],
       interp, args={'scale_factor': [1.5, 0.6, 2.0], 'mode': 'nearest'}),
    Op('interpolate_3d_trilinear', 'interpolate', [(2, 2, 3, 4, 5)], interp,
       args={'size': [5, 6, 7], 'mode': 'trilinear'}, noncontig=[0]),
    Op('interpolate_3d_trilinear_ac', 'interpolate', [(1, 2, 3, 4, 5)],
       interp, args={'size': [2, 7, 9], 'mode': 'trilinear',
                     'align_corners': True}),
    Op('interpolate_3d_trilinear_scale', 'interpolate', [(1, 2, 3, 4, 5)],
       interp, args={'scale_factor': [1.5, 0.6, 2.0], 'mode': 'trilinear'}),
    Op('interpolate_3d_trilinear_scale_ac', 'interpolate', [(1, 2, 3, 4, 2)],
       interp, args={'scale_factor': 2.0, 'mode': 'trilinear',
                     'align_corners': True}),
    Op('interpolate_1d_bilinear_error', 'interpolate', [(2, 3, 7)], interp,
       args={'size': 11, 'mode': 'bilinear'}, error=True),
    Op('interpolate_3d_linear_error', 'interpolate', [(1, 2, 3, 4, 5)],
       interp, args={'size': [5, 6, 7], 'mode': 'linear'}, error=True),
]
for mode in ('bilinear', 'nearest'):
    for pm in ('zeros', 'border', 'reflection'):
        for ac in (False, True):
            norm_rows.append(Op(
                'grid_sample_%s_%s%s' % (mode, pm, '_ac' if ac else ''),
                'grid_sample', [(2, 2, 4, 5), Grid(2, 3, 4, 2)], gsample,
                args={'mode': mode, 'padding_mode': pm, 'align_corners': ac},
                noncontig=[0] if ac else []))
norm_rows.append(Op('grid_sample_grid_error', 'grid_sample',
                    [(2, 2, 4, 5), Grid(2, 3, 4, 3)], gsample,
                    args={'align_corners': False}, error=True))

reduce_rows = [
    Op('amax_all', 'amax', [(3, 4, 5)], red(torch.amax), noncontig=[0]),
    Op('amax_dims', 'amax', [(3, 4, 5)], red(torch.amax),
       args={'dim': [0, 2], 'keepdim': True}),
    Op('amin_dim', 'amin', [(3, 4, 5)], red(torch.amin), args={'dim': -1},
       noncontig=[0]),
    Op('amax_int', 'amax', [(3, 4)], red(torch.amax), args={'dim': 1},
       dtypes=('i64',)),
    Op('var_all', 'var', [(3, 4, 5)], varstd(torch.var)),
    Op('var_dim_c0', 'var', [(3, 4, 5)], varstd(torch.var),
       args={'dim': [1], 'correction': 0, 'keepdim': True}, noncontig=[0]),
    Op('var_dims_c2', 'var', [(3, 4, 5)], varstd(torch.var),
       args={'dim': [0, 2], 'correction': 2}),
    Op('std_dim', 'std', [(3, 4, 5)], varstd(torch.std), args={'dim': [-1]}),
    Op('std_all_c0', 'std', [(4, 5)], varstd(torch.std),
       args={'correction': 0}, noncontig=[0]),
    Op('logsumexp_dim', 'logsumexp', [(3, 4, 5)], red_all(torch.logsumexp),
       args={'dim': [1]}, noncontig=[0]),
    Op('logsumexp_all_keep', 'logsumexp', [(3, 4)], red_all(torch.logsumexp),
       args={'dim': [0, 1], 'keepdim': True}),
    Op('norm_p2_all', 'norm', [(3, 4)], vnorm, noncontig=[0]),
    Op('norm_p1_dim', 'norm', [(3, 4, 5)], vnorm, args={'p': 1, 'dim': [1]}),
    Op('norm_pinf_dim', 'norm', [(3, 4, 5)], vnorm,
       args={'p': float('inf'), 'dim': [-1], 'keepdim': True}),
    Op('norm_pneginf', 'norm', [(3, 4)], vnorm, args={'p': float('-inf')}),
    Op('norm_p3_dims', 'norm', [(3, 4, 5)], vnorm,
       args={'p': 3, 'dim': [0, 2]}),
    Op('prod_all', 'prod', [(3, 4)], red1(torch.prod)),
    Op('prod_dim', 'prod', [(3, 4, 2)], red1(torch.prod),
       args={'dim': 1, 'keepdim': True}, noncontig=[0]),
    Op('prod_int', 'prod', [(3, 4)], red1(torch.prod), args={'dim': 0},
       dtypes=('i64',)),
    Op('all_float', 'all', [Ints(3, 4)], red1(torch.all), args={'dim': 1}),
    Op('any_bool', 'any', [Bool(3, 4)], red1(torch.any),
       args={'dim': 0, 'keepdim': True}),
    Op('all_bool_all', 'all', [Bool(2, 3)], red1(torch.all)),
    Op('any_all', 'any', [Ints(3, 4)], red1(torch.any), dtypes=('i64',)),
    Op('max_dim', 'max_dim', [(3, 4, 5)],
       lambda xs, a: torch.max(xs[0], a['dim'], a['keepdim']),
       args={'dim': 1, 'keepdim': False}, noncontig=[0]),
    Op('min_dim_keep', 'min_dim', [(3, 4, 5)],
       lambda xs, a: torch.min(xs[0], a['dim'], a['keepdim']),
       args={'dim': -1, 'keepdim': True}),
    Op('max_dim_error', 'max_dim', [(3, 4)],
       lambda xs, a: torch.max(xs[0], a['dim'], a['keepdim']),
       args={'dim': 2, 'keepdim': False}, error=True),
    Op('argmax_all', 'argmax', [(3, 4, 5)], argm(torch.argmax)),
    Op('argmax_dim', 'argmax', [(3, 4, 5)], argm(torch.argmax),
       args={'dim': 1, 'keepdim': True}, noncontig=[0]),
    Op('argmin_dim', 'argmin', [(3, 4, 5)], argm(torch.argmin),
       args={'dim': -1}),
    Op('cumsum', 'cumsum', [(3, 4, 5)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 1},
       noncontig=[0]),
    Op('cumsum_last', 'cumsum', [(7,)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': -1}),
    Op('cumsum_int', 'cumsum', [(3, 4)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 0},
       dtypes=('i64',)),
    Op('cumsum_dim_error', 'cumsum', [(3, 4)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 3},
       error=True),
    # sorting: random values, no ties (tie order is documented as stable in
    # mm, unspecified in torch's unstable sort)
    Op('sort', 'sort', [(3, 6)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim']), args={'dim': -1},
       noncontig=[0]),
    Op('sort_desc_dim0', 'sort', [(5, 3, 2)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim'], descending=True,
                                stable=True),
       args={'dim': 0, 'descending': True, 'stable': True}),
    Op('argsort', 'argsort', [(4, 5)],
       lambda xs, a: torch.argsort(xs[0], a['dim'], a['descending']),
       args={'dim': 1, 'descending': True}),
    Op('topk', 'topk', [(3, 8)],
       lambda xs, a: torch.topk(xs[0], a['k'], a['dim']),
       args={'k': 3, 'dim': -1}, noncontig=[0]),
    Op('topk_smallest_dim0', 'topk', [(6, 3)],
       lambda xs, a: torch.topk(xs[0], a['k'], a['dim'], largest=False),
       args={'k': 2, 'dim': 0, 'largest': False}),
    Op('topk_k_error', 'topk', [(3, 4)],
       lambda xs, a: torch.topk(xs[0], a['k'], a['dim']),
       args={'k': 5, 'dim': 1}, error=True),
]

index_rows = [
    Op('gather', 'gather', [(3, 5), Idx(3, 4, hi=5)],
       lambda xs, a: torch.gather(xs[0], a['dim'], xs[1]), args={'dim': 1},
       noncontig=[0]),
    Op('gather_dim0', 'gather', [(4, 3), Idx(6, 2, hi=4)],
       lambda xs, a: torch.gather(xs[0], a['dim'], xs[1]), args={'dim': 0}),
    Op('gather_error', 'gather', [(3, 5), In(3, 4, draw=lambda s: torch.full(
        s, 5.0), dtype=torch.int64)],
       lambda xs, a: torch.gather(xs[0], a['dim'], xs[1]), args={'dim': 1},
       error=True),
    Op('index_select', 'index_select', [(4, 5), Idx(6, hi=5)],
       lambda xs, a: torch.index_select(xs[0], a['dim'], xs[1]),
       args={'dim': 1}, noncontig=[0]),
    Op('index_select_dim0', 'index_select', [(4, 2, 3), Idx(3, hi=4)],
       lambda xs, a: torch.index_select(xs[0], a['dim'], xs[1]),
       args={'dim': 0}),
    Op('index_select_error', 'index_select', [(4, 5), In(2, draw=lambda s:
                                                          torch.full(s, 4.0),
                                                          dtype=torch.int64)],
       lambda xs, a: torch.index_select(xs[0], a['dim'], xs[1]),
       args={'dim': 0}, error=True),
    # src the shape of index: torch 1.13's scatter backward gives src a
    # gradient of index's shape (an error when src is larger)
    Op('scatter', 'scatter', [(3, 5), Perm(3, 3, n=5, dim=1), (3, 3)],
       lambda xs, a: xs[0].scatter(a['dim'], xs[1], xs[2]), args={'dim': 1}),
    Op('scatter_dim0', 'scatter', [(5, 2), Perm(3, 2, n=5, dim=0), (3, 2)],
       lambda xs, a: xs[0].scatter(a['dim'], xs[1], xs[2]), args={'dim': 0},
       noncontig=[0]),
    Op('scatter_value', 'scatter_value', [(3, 5), Idx(3, 2, hi=5)],
       lambda xs, a: xs[0].scatter(a['dim'], xs[1], a['value']),
       args={'dim': 1, 'value': -1.5}),
    Op('scatter_add', 'scatter_add', [(3, 5), Idx(3, 6, hi=5), (3, 6)],
       lambda xs, a: xs[0].scatter_add(a['dim'], xs[1], xs[2]),
       args={'dim': 1}, noncontig=[2]),
    Op('scatter_add_dim0', 'scatter_add', [(4, 3), Idx(5, 3, hi=4), (5, 3)],
       lambda xs, a: xs[0].scatter_add(a['dim'], xs[1], xs[2]),
       args={'dim': 0}),
    Op('scatter_error', 'scatter', [(3, 5), Idx(4, 3, hi=5), (3, 4)],
       lambda xs, a: xs[0].scatter(a['dim'], xs[1], xs[2]), args={'dim': 1},
       error=True),
    Op('index_add', 'index_add', [(5, 3), Idx(4, hi=5), (4, 3)],
       lambda xs, a: xs[0].index_add(a['dim'], xs[1], xs[2],
                                     alpha=a['alpha']),
       args={'dim': 0, 'alpha': 2.5}, noncontig=[0]),
    Op('index_add_dim1', 'index_add', [(2, 4, 3), Idx(5, hi=4), (2, 5, 3)],
       lambda xs, a: xs[0].index_add(a['dim'], xs[1], xs[2]),
       args={'dim': 1}),
    Op('masked_fill', 'masked_fill', [(3, 4), Bool(3, 4)],
       lambda xs, a: xs[0].masked_fill(xs[1], a['value']),
       args={'value': 2.5}, noncontig=[0]),
    Op('masked_fill_broadcast', 'masked_fill', [(2, 3, 4), Bool(3, 1)],
       lambda xs, a: xs[0].masked_fill(xs[1], a['value']),
       args={'value': -1.0}),
    # torch 1.13 scatters masked_select's gradient in the memory order of a
    # non-contiguous input (pytorch/pytorch#99638, fixed in 2.1): torch gets
    # a contiguous copy, mm the non-contiguous input itself.
    Op('masked_select', 'masked_select', [(3, 4), Bool(3, 4)],
       lambda xs, a: torch.masked_select(xs[0].contiguous(), xs[1]),
       noncontig=[0]),
    Op('masked_select_broadcast', 'masked_select', [(2, 3), Bool(2, 1)],
       lambda xs, a: torch.masked_select(xs[0], xs[1])),
    Op('nonzero', 'nonzero', [Ints(3, 4)],
       lambda xs, a: torch.nonzero(xs[0]), args={'no_grad': [0]}),
    Op('nonzero_3d', 'nonzero', [Ints(2, 3, 2)],
       lambda xs, a: torch.nonzero(xs[0]), dtypes=('i64',)),
    Op('nonzero_bool', 'nonzero', [Bool(4, 3)],
       lambda xs, a: torch.nonzero(xs[0]), dtypes=('i64',)),
    Op('one_hot', 'one_hot', [Idx(2, 3, hi=4)],
       lambda xs, a: F.one_hot(xs[0], a['num_classes']),
       args={'num_classes': 5}, dtypes=('i64',)),
    Op('one_hot_infer', 'one_hot', [Idx(6, hi=4)],
       lambda xs, a: F.one_hot(xs[0]), dtypes=('i64',)),
    Op('one_hot_error', 'one_hot', [In(3, draw=lambda s: torch.tensor(
        [0., 3., 1.]), dtype=torch.int64)],
       lambda xs, a: F.one_hot(xs[0], a['num_classes']),
       args={'num_classes': 2}, dtypes=('i64',), error=True),
    Op('embedding', 'embedding', [(6, 3), Idx(2, 5, hi=6)],
       lambda xs, a: F.embedding(xs[1], xs[0]), noncontig=[0]),
    Op('embedding_padding_idx', 'embedding', [(6, 3), Idx(4, 5, hi=6)],
       lambda xs, a: F.embedding(xs[1], xs[0], a['padding_idx']),
       args={'padding_idx': 2}),
    Op('embedding_padding_idx_negative', 'embedding',
       [(6, 3), Idx(12, hi=6)],
       lambda xs, a: F.embedding(xs[1], xs[0], a['padding_idx']),
       args={'padding_idx': -1}),
    Op('embedding_error', 'embedding', [(6, 3), In(2, draw=lambda s:
                                                    torch.full(s, 6.0),
                                                    dtype=torch.int64)],
       lambda xs, a: F.embedding(xs[1], xs[0]), error=True),
    Op('unique', 'unique', [Ints(4, 5)], unique,
       args={'no_grad': [0]}),
    Op('unique_inverse_counts', 'unique', [Ints(3, 4)], unique,
       args={'return_inverse': True, 'return_counts': True,
             'no_grad': [0]}),
    Op('unique_int', 'unique', [Ints(7)], unique,
       args={'return_counts': True}, dtypes=('i64',)),
    # padding, roll, pixel shuffle
    Op('pad_constant', 'pad', [(2, 3, 4)],
       lambda xs, a: F.pad(xs[0], a['pad'], value=a['value']),
       args={'pad': [1, 2, 0, 1], 'value': 1.5}, noncontig=[0]),
    Op('pad_constant_crop', 'pad', [(3, 5)],
       lambda xs, a: F.pad(xs[0], a['pad']), args={'pad': [-1, 2, 1, -2]}),
    Op('pad_reflect', 'pad', [(2, 3, 5, 4)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [1, 2, 3, 1], 'mode': 'reflect'}),
    Op('pad_reflect_1d', 'pad', [(2, 6)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [3, 2], 'mode': 'reflect'}, noncontig=[0]),
    Op('pad_replicate', 'pad', [(1, 2, 3, 4)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [2, 0, 1, 3], 'mode': 'replicate'}),
    Op('pad_replicate_3d', 'pad', [(1, 2, 3, 2, 3)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [1, 1, 2, 0, 0, 1], 'mode': 'replicate'}),
    Op('pad_reflect_error', 'pad', [(1, 2, 3)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [3, 0], 'mode': 'reflect'}, error=True),
    Op('roll', 'roll', [(3, 4, 5)],
       lambda xs, a: torch.roll(xs[0], a['shifts'], a['dims']),
       args={'shifts': [1, -2], 'dims': [0, 2]}, noncontig=[0]),
    Op('roll_flat', 'roll', [(3, 4)],
       lambda xs, a: torch.roll(xs[0], a['shifts']), args={'shifts': [5]}),
    Op('pixel_shuffle', 'pixel_shuffle', [(2, 8, 2, 3)],
       lambda xs, a: F.pixel_shuffle(xs[0], a['factor']), args={'factor': 2},
       noncontig=[0]),
    Op('pixel_unshuffle', 'pixel_unshuffle', [(2, 2, 6, 4)],
       lambda xs, a: F.pixel_unshuffle(xs[0], a['factor']),
       args={'factor': 2}),
    Op('pixel_shuffle_error', 'pixel_shuffle', [(2, 6, 2, 3)],
       lambda xs, a: F.pixel_shuffle(xs[0], a['factor']), args={'factor': 2},
       error=True),
]

OPS += conv_rows + norm_rows + reduce_rows + index_rows

# ---- elementwise math, comparisons, selection, activations -------------------

def Wide(*shape):
    """Values in about [-8, 8]: both sides of relu6's, hardswish's and
    softplus's thresholds."""
    return In(*shape, draw=lambda s: torch.randn(s, dtype=torch.float64) * 4)


def away_from_half(shape):
    """round: no value within 0.05 of a .5 (f32 rounding of the drawn f64
    could move it across)."""
    v = torch.randn(shape, dtype=torch.float64) * 3
    frac = v - torch.floor(v)
    return torch.where((frac - 0.5).abs() < 0.05, v + 0.1, v)


def cmp_rows(name, f):
    return [
        Op(name, name, [Ints(3, 4), Ints(3, 4)], lambda xs, a: f(*xs),
           noncontig=[0]),
        Op(name + '_broadcast', name, [Ints(2, 3, 4), Ints(4)],
           lambda xs, a: f(*xs)),
        Op(name + '_int_float', name, [I64(3, 4), Ints(4)],
           lambda xs, a: f(*xs)),
        Op(name + '_scalar', name + '_scalar', [Ints(3, 4)],
           lambda xs, a: f(xs[0], a['scalar']), args={'scalar': 1}),
        Op(name + '_scalar_frac', name + '_scalar', [Ints(3, 4)],
           lambda xs, a: f(xs[0], a['scalar']), args={'scalar': 0.5},
           dtypes=('i64',)),
    ]


def act(name, f, draw=In, args=None, op=None):
    op = op or name
    return [
        Op(name, op, [draw(3, 5)], lambda xs, a: f(xs[0], a),
           args=args, noncontig=[0]),
        Op(name + '_0dim', op, [draw()], lambda xs, a: f(xs[0], a),
           args=args),
        Op(name + '_empty', op, [draw(0, 3)], lambda xs, a: f(xs[0], a),
           args=args),
    ]


def clamp_t(xs, a):
    return torch.clamp(xs[0], min=opt(xs, a, 1), max=opt(xs, a, 2))


ew_rows = [
    *binary('pow', torch.pow)[:4],
    Op('pow_positive_base', 'pow', [P(3, 4), (3, 4)],
       lambda xs, a: torch.pow(*xs), noncontig=[1]),
    Op('pow_ints', 'pow', [Ints(3, 4), In(3, 4, draw=lambda s: torch.randint(
        0, 4, s).double())], lambda xs, a: torch.pow(*xs), dtypes=('i64',)),
    Op('pow_scalar_2', 'pow_scalar', [(3, 4)],
       lambda xs, a: torch.pow(xs[0], a['exponent']), args={'exponent': 2},
       noncontig=[0]),
    Op('pow_scalar_frac', 'pow_scalar', [P(3, 4)],
       lambda xs, a: torch.pow(xs[0], a['exponent']),
       args={'exponent': -1.5}),
    Op('pow_scalar_int', 'pow_scalar', [Ints(3, 4)],
       lambda xs, a: torch.pow(xs[0], a['exponent']), args={'exponent': 3},
       dtypes=('i64',)),
    Op('pow_scalar_int_frac', 'pow_scalar', [In(3, 4, draw=lambda s:
                                                 torch.randint(0, 5, s)
                                                 .double())],
       lambda xs, a: torch.pow(xs[0], a['exponent']),
       args={'exponent': 0.5}, dtypes=('i64',)),
    Op('pow_scalar_negative_int_error', 'pow_scalar', [Ints(3, 4)],
       lambda xs, a: torch.pow(xs[0], a['exponent']), args={'exponent': -2},
       dtypes=('i64',), error=True),
    *binary('maximum', torch.maximum)[:5],
    *binary('minimum', torch.minimum)[:5],
    Op('maximum_int_float', 'maximum', [I64(3, 4), (4,)],
       lambda xs, a: torch.maximum(*xs)),
    *cmp_rows('eq', torch.eq), *cmp_rows('ne', torch.ne),
    *cmp_rows('lt', torch.lt), *cmp_rows('le', torch.le),
    *cmp_rows('gt', torch.gt), *cmp_rows('ge', torch.ge),
    Op('eq_error', 'eq', [(2, 3), (4,)], lambda xs, a: torch.eq(*xs),
       error=True),
    Op('logical_and', 'logical_and', [Ints(3, 4), Ints(3, 4)],
       lambda xs, a: torch.logical_and(*xs), noncontig=[1]),
    Op('logical_or_bool', 'logical_or', [Bool(3, 4), Bool(4)],
       lambda xs, a: torch.logical_or(*xs)),
    Op('logical_xor_mixed', 'logical_xor', [Ints(2, 3), Bool(2, 3)],
       lambda xs, a: torch.logical_xor(*xs), dtypes=('f32', 'f64', 'i64')),
    Op('logical_not', 'logical_not', [Ints(3, 4)],
       lambda xs, a: torch.logical_not(xs[0]), dtypes=('f32', 'i64')),
    Op('where', 'where', [Bool(3, 4), (3, 4), (3, 4)],
       lambda xs, a: torch.where(*xs), noncontig=[1]),
    Op('where_broadcast', 'where', [Bool(3, 1), (2, 3, 4), (4,)],
       lambda xs, a: torch.where(*xs)),
    Op('where_promote', 'where', [Bool(3, 4), I64(3, 4), (3, 4)],
       lambda xs, a: torch.where(*xs)),
    Op('where_cond_error', 'where', [(3, 4), (3, 4), (3, 4)],
       lambda xs, a: torch.where(*xs), error=True),
    Op('clamp', 'clamp', [(3, 5)],
       lambda xs, a: torch.clamp(xs[0], a['min'], a['max']),
       args={'min': -0.5, 'max': 0.7}, noncontig=[0]),
    Op('clamp_min', 'clamp', [(3, 5)],
       lambda xs, a: torch.clamp(xs[0], min=a['min']), args={'min': 0.2}),
    Op('clamp_max', 'clamp', [(3, 5)],
       lambda xs, a: torch.clamp(xs[0], max=a['max']), args={'max': -0.1}),
    Op('clamp_min_above_max', 'clamp', [(3, 5)],
       lambda xs, a: torch.clamp(xs[0], a['min'], a['max']),
       args={'min': 0.5, 'max': -0.5}),
    Op('clamp_int', 'clamp', [Ints(3, 4)],
       lambda xs, a: torch.clamp(xs[0], a['min'], a['max']),
       args={'min': -1, 'max': 1}, dtypes=('i64',)),
    Op('clamp_int_frac', 'clamp', [Ints(3, 4)],
       lambda xs, a: torch.clamp(xs[0], min=a['min']), args={'min': 0.5},
       dtypes=('i64',)),
    Op('clamp_tensor', 'clamp_tensor', [(3, 4), (3, 1), (4,)], clamp_t,
       noncontig=[0]),
    Op('clamp_tensor_min', 'clamp_tensor', [(2, 3, 4), (4,), Zero(1)],
       clamp_t, args={'none': [2]}),
    Op('clamp_tensor_max', 'clamp_tensor', [(3, 4), Zero(1), (3, 4)],
       clamp_t, args={'none': [1]}),
    *unary('abs', torch.abs),
    Op('abs_int', 'abs', [Ints(3, 4)], lambda xs, a: torch.abs(xs[0]),
       dtypes=('i64',)),
    *unary('sign', torch.sign),
    Op('sign_int', 'sign', [Ints(3, 4)], lambda xs, a: torch.sign(xs[0]),
       dtypes=('i64',)),
    *unary('floor', torch.floor, draw=Wide),
    *unary('ceil', torch.ceil, draw=Wide),
    *unary('round', torch.round,
           draw=lambda *s: In(*s, draw=away_from_half)),
    Op('round_half_even', 'round', [In(6, draw=lambda s: torch.tensor(
        [0.5, 1.5, 2.5, -0.5, -1.5, 3.25]))],
       lambda xs, a: torch.round(xs[0])),
    Op('floor_int', 'floor', [Ints(3, 4)], lambda xs, a: torch.floor(xs[0]),
       dtypes=('i64',)),
    *unary('log1p', torch.log1p, draw=P),
    *unary('sqrt', torch.sqrt, draw=P),
    *unary('rsqrt', torch.rsqrt, draw=P),
    *unary('sin', torch.sin, draw=Wide),
    *unary('cos', torch.cos, draw=Wide),
    *unary('erf', torch.erf),
    Op('sqrt_int', 'sqrt', [In(3, 4, draw=lambda s: torch.randint(0, 9, s)
                               .double())],
       lambda xs, a: torch.sqrt(xs[0]), dtypes=('i64',)),
    Op('sin_int', 'sin', [Ints(5)], lambda xs, a: torch.sin(xs[0]),
       dtypes=('i64',)),
    # activations
    *act('relu6', lambda x, a: F.relu6(x), draw=Wide),
    Op('relu6_int', 'relu6', [In(3, 4, draw=lambda s: torch.randint(
        -3, 10, s).double())], lambda xs, a: F.relu6(xs[0]),
       dtypes=('i64',)),
    *act('leaky_relu', lambda x, a: F.leaky_relu(x, a['negative_slope']),
         args={'negative_slope': 0.2}),
    Op('leaky_relu_default', 'leaky_relu', [(4, 3)],
       lambda xs, a: F.leaky_relu(xs[0])),
    Op('prelu', 'prelu', [(2, 3, 4), (3,)],
       lambda xs, a: F.prelu(*xs), noncontig=[0]),
    Op('prelu_shared', 'prelu', [(2, 3, 2, 2), (1,)],
       lambda xs, a: F.prelu(*xs)),
    Op('prelu_1d', 'prelu', [(5,), (1,)], lambda xs, a: F.prelu(*xs)),
    Op('prelu_weight_error', 'prelu', [(2, 3, 4), (2,)],
       lambda xs, a: F.prelu(*xs), error=True),
    *act('elu', lambda x, a: F.elu(x, a['alpha']), args={'alpha': 1.5}),
    *act('gelu', lambda x, a: F.gelu(x), draw=Wide),
    *act('gelu_tanh', lambda x, a: F.gelu(x, approximate='tanh'),
         args={'approximate': 'tanh'}, op='gelu'),
    Op('gelu_int_error', 'gelu', [(3, 4)], lambda xs, a: F.gelu(xs[0]),
       dtypes=('i64',), error=True),
    *act('silu', lambda x, a: F.silu(x), draw=Wide),
    *act('hardswish', lambda x, a: F.hardswish(x), draw=Wide),
    *act('hardsigmoid', lambda x, a: F.hardsigmoid(x), draw=Wide),
    *act('mish', lambda x, a: F.mish(x), draw=Wide),
    *act('softplus', lambda x, a: F.softplus(x, a['beta'], a['threshold']),
         draw=Wide, args={'beta': 2.0, 'threshold': 5.0}),
    Op('softplus_default', 'softplus', [Wide(4, 3)],
       lambda xs, a: F.softplus(xs[0])),
    Op('softplus_negative_beta', 'softplus', [(4, 3)],
       lambda xs, a: F.softplus(xs[0], a['beta']), args={'beta': -1.5}),
]
OPS += ew_rows

# ---- edge cases: special values, ties, zeros, empty and 0-dim tensors, and
# shapes big enough for the optimised kernels' blocked and threaded paths ----

def with_special(base, *vals):
    """Draw `base`, then put the given special values at the first
    positions (flattened)."""
    def draw(s):
        v = base(s).clone()
        flat = v.reshape(-1)
        for i, x in enumerate(vals):
            flat[i * 3 % flat.numel()] = x
        return v
    return draw


NAN, INF = float('nan'), float('inf')


def Nan(*shape):
    return In(*shape, draw=with_special(randn, NAN))


def Zeros(*shape):
    return In(*shape, draw=lambda s: torch.zeros(s, dtype=torch.float64))


def Const(*shape):
    return In(*shape, draw=lambda s: torch.full(s, 0.75, dtype=torch.float64))


edge_rows = [
    # bigger shapes: oneDNN / blocked / threaded paths
    Op('conv2d_big', 'conv2d', [(2, 16, 12, 12), (24, 16, 3, 3), (24,)],
       conv('conv2d', F.conv2d, CONV_KW), args={'padding': 1, 'stride': 1},
       noncontig=[1]),
    Op('conv2d_big_depthwise', 'conv2d', [(2, 16, 10, 10), (16, 1, 3, 3),
                                          (16,)],
       conv('conv2d', F.conv2d, CONV_KW),
       args={'padding': 2, 'dilation': 2, 'groups': 16}),
    Op('conv_transpose2d_big', 'conv_transpose2d',
       [(2, 16, 6, 6), (16, 8, 4, 4), (8,)],
       conv('ct2', F.conv_transpose2d, CONVT_KW),
       args={'stride': 2, 'padding': 1}),
    Op('conv1d_unbatched_dil_pad', 'conv1d', [(3, 10), (4, 3, 3)],
       conv('conv1d', F.conv1d, CONV_KW),
       args={'padding': 4, 'dilation': 3}),
    Op('conv3d_unbatched', 'conv3d', [(2, 4, 4, 4), (3, 2, 3, 3, 3)],
       conv('conv3d', F.conv3d, CONV_KW), args={'padding': 1}),
    Op('conv_transpose1d_unbatched', 'conv_transpose1d', [(3, 5),
                                                          (3, 2, 3)],
       conv('ct1', F.conv_transpose1d, CONVT_KW),
       args={'stride': 3, 'dilation': 2, 'output_padding': 2}),
    Op('conv_transpose3d_groups', 'conv_transpose3d',
       [(1, 4, 2, 3, 2), (4, 1, 2, 2, 2), (2,)],
       conv('ct3', F.conv_transpose3d, CONVT_KW),
       args={'groups': 2, 'stride': [1, 2, 2], 'output_padding': [0, 1, 0]}),
    Op('max_pool2d_big', 'max_pool2d', [(2, 16, 17, 15)],
       pool(F.max_pool2d, MAXP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'return_indices': True}),
    Op('max_pool2d_stride_gt_kernel', 'max_pool2d', [(1, 2, 9, 9)],
       pool(F.max_pool2d, MAXP_KW),
       args={'kernel_size': 2, 'stride': 3, 'ceil_mode': True}),
    Op('max_pool2d_nan', 'max_pool2d', [Nan(1, 2, 4, 4)],
       pool(F.max_pool2d, MAXP_KW),
       args={'kernel_size': 2, 'return_indices': True}),
    Op('max_pool1d_unbatched', 'max_pool1d', [(3, 10)],
       pool(F.max_pool1d, MAXP_KW),
       args={'kernel_size': 4, 'stride': 3, 'padding': 2, 'dilation': 1,
             'ceil_mode': True}),
    Op('avg_pool2d_big', 'avg_pool2d', [(2, 16, 17, 15)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'count_include_pad': False}),
    Op('avg_pool2d_ceil_last_window', 'avg_pool2d', [(1, 1, 5, 5)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': 2, 'stride': 2, 'padding': 1,
             'ceil_mode': True}),
    Op('avg_pool1d_ceil_include', 'avg_pool1d', [(2, 2, 6)],
       pool(F.avg_pool1d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'ceil_mode': True, 'count_include_pad': True}),
    Op('avg_pool3d_big', 'avg_pool3d', [(2, 8, 6, 7, 6)],
       pool(F.avg_pool3d, AVGP_KW), args={'kernel_size': 2}),
    Op('max_pool3d_big', 'max_pool3d', [(2, 8, 6, 7, 6)],
       pool(F.max_pool3d, MAXP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1, 'dilation': 1,
             'return_indices': True}),
    Op('adaptive_avg_pool2d_uneven', 'adaptive_avg_pool2d', [(2, 3, 7, 10)],
       adaptive(F.adaptive_avg_pool2d), args={'output_size': [3, 4]}),
    Op('adaptive_max_pool2d_unbatched', 'adaptive_max_pool2d', [(3, 7, 10)],
       adaptive(F.adaptive_max_pool2d),
       args={'output_size': [4, -1], 'return_indices': True},
       noncontig=[0]),
    Op('adaptive_max_pool2d_big', 'adaptive_max_pool2d', [(2, 16, 13, 11)],
       adaptive(F.adaptive_max_pool2d), args={'output_size': [5, 3]}),
    Op('softmax_big', 'softmax', [(33, 130)],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': -1}),
    Op('log_softmax_big_dim0', 'log_softmax', [(65, 33)],
       lambda xs, a: torch.log_softmax(xs[0], a['dim']), args={'dim': 0}),
    Op('softmax_neg_inf', 'softmax', [In(3, 5, draw=with_special(
        randn, -INF, -INF))],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 1}),
    Op('softmax_0dim', 'softmax', [()],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 0}),
    Op('softmax_empty', 'softmax', [(0, 4)],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 1}),
    Op('batch_norm_train_big', 'batch_norm',
       [(8, 16, 6, 5), (16,), P(16), (16,), (16,)], stat_norm(False),
       args=dict(SN, training=True)),
    Op('batch_norm_train_5d', 'batch_norm',
       [(2, 3, 2, 3, 2), (3,), P(3), (3,), (3,)], stat_norm(False),
       args=dict(SN, training=True, momentum=0.0)),
    Op('batch_norm_train_momentum1', 'batch_norm',
       [(4, 2), (2,), P(2), Zero(2), Zero(2)], stat_norm(False),
       args=dict(training=True, momentum=1.0, no_grad=[1, 2], none=[3, 4])),
    Op('layer_norm_big', 'layer_norm', [(16, 300), (300,), (300,)],
       lambda xs, a: F.layer_norm(xs[0], a['normalized_shape'], xs[1], xs[2]),
       args={'normalized_shape': [300]}),
    Op('group_norm_one_group', 'group_norm', [(2, 4, 3), (4,), (4,)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], xs[1], xs[2]),
       args={'num_groups': 1}),
    Op('group_norm_per_channel', 'group_norm', [(3, 4, 2, 3), (4,), (4,)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], xs[1], xs[2]),
       args={'num_groups': 4}),
    Op('group_norm_big', 'group_norm', [(4, 32, 8, 8), (32,), (32,)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], xs[1], xs[2]),
       args={'num_groups': 8}),
    Op('instance_norm_big', 'instance_norm',
       [(4, 16, 9, 9), (16,), P(16), (16,), (16,)], stat_norm(True),
       args=dict(SN)),
    Op('linear_big', 'linear', [(4, 5, 96), (80, 96), (80,)],
       lambda xs, a: F.linear(*xs)),
    Op('sdpa_big', 'scaled_dot_product_attention',
       [(2, 4, 16, 32), (2, 4, 24, 32), (2, 4, 24, 16)], sdpa),
    Op('sdpa_causal_rect', 'scaled_dot_product_attention',
       [(2, 3, 4), (2, 5, 4), (2, 5, 3)], sdpa, args={'is_causal': True}),
    Op('sdpa_broadcast_batch', 'scaled_dot_product_attention',
       [(2, 3, 4, 8), (1, 3, 6, 8), (2, 1, 6, 5), (4, 6)], sdpa),
    Op('interpolate_nearest_down', 'interpolate', [(1, 2, 7, 9)], interp,
       args={'scale_factor': 0.5, 'mode': 'nearest'}),
    Op('interpolate_nearest_uneven', 'interpolate', [(1, 2, 5, 7)], interp,
       args={'size': [3, 11], 'mode': 'nearest'}),
    Op('interpolate_bilinear_down', 'interpolate', [(1, 2, 9, 7)], interp,
       args={'size': [4, 3], 'mode': 'bilinear', 'align_corners': False}),
    Op('interpolate_bilinear_down_ac', 'interpolate', [(1, 2, 9, 7)], interp,
       args={'size': [4, 3], 'mode': 'bilinear', 'align_corners': True}),
    Op('interpolate_bilinear_to_one', 'interpolate', [(1, 2, 5, 4)], interp,
       args={'size': [1, 1], 'mode': 'bilinear', 'align_corners': True}),
    Op('interpolate_bicubic_down', 'interpolate', [(1, 2, 9, 8)], interp,
       args={'size': [5, 3], 'mode': 'bicubic', 'align_corners': False}),
    Op('interpolate_bicubic_scale', 'interpolate', [(2, 2, 4, 5)], interp,
       args={'scale_factor': [1.7, 0.8], 'mode': 'bicubic',
             'align_corners': False}),
    Op('interpolate_bilinear_big', 'interpolate', [(2, 16, 12, 10)], interp,
       args={'size': [23, 17], 'mode': 'bilinear', 'align_corners': False},
       noncontig=[0]),
    Op('grid_sample_far_reflection', 'grid_sample',
       [(1, 2, 4, 5), In(1, 3, 5, 2, draw=lambda s: torch.rand(
           s, dtype=torch.float64) * 8 - 4)], gsample,
       args={'mode': 'bilinear', 'padding_mode': 'reflection',
             'align_corners': False}),
    Op('grid_sample_far_reflection_ac', 'grid_sample',
       [(1, 2, 4, 5), In(1, 3, 5, 2, draw=lambda s: torch.rand(
           s, dtype=torch.float64) * 8 - 4)], gsample,
       args={'mode': 'bilinear', 'padding_mode': 'reflection',
             'align_corners': True}),
    Op('grid_sample_big', 'grid_sample', [(2, 8, 12, 10), Grid(2, 9, 11, 2)],
       gsample, args={'mode': 'bilinear', 'padding_mode': 'border',
                      'align_corners': False}),
    # reductions: special values, ties, zeros
    Op('amax_nan', 'amax', [Nan(3, 4)], red(torch.amax), args={'dim': 1}),
    Op('amax_ties', 'amax', [Ints(4, 6)], red(torch.amax), args={'dim': 1}),
    Op('amin_ties_all', 'amin', [Ints(3, 5)], red(torch.amin)),
    Op('amax_0dim', 'amax', [()], red(torch.amax)),
    Op('amax_empty_error', 'amax', [(0, 3)], red(torch.amax),
       args={'dim': 0}, error=True),
    Op('amax_big', 'amax', [(64, 130)], red(torch.amax), args={'dim': 0}),
    Op('var_big', 'var', [(70, 130)], varstd(torch.var), args={'dim': [0]}),
    Op('std_big_rows', 'std', [(70, 130)], varstd(torch.std),
       args={'dim': [1]}),
    Op('var_correction_too_big', 'var', [(3, 2)], varstd(torch.var),
       args={'dim': [1], 'correction': 2}),
    Op('std_constant', 'std', [Const(3, 4)], varstd(torch.std),
       args={'dim': [1]}),
    Op('var_0dim', 'var', [()], varstd(torch.var), args={'correction': 0}),
    Op('logsumexp_inf', 'logsumexp', [In(3, 4, draw=with_special(
        randn, -INF, INF))], red_all(torch.logsumexp), args={'dim': [1]}),
    Op('logsumexp_all_neg_inf', 'logsumexp', [In(2, 3, draw=lambda s:
                                                  torch.full(s, -INF))],
       red_all(torch.logsumexp), args={'dim': [1]}),
    Op('logsumexp_big', 'logsumexp', [(40, 150)], red_all(torch.logsumexp),
       args={'dim': [1]}),
    Op('logsumexp_int', 'logsumexp', [Ints(3, 4)], red_all(torch.logsumexp),
       args={'dim': [1]}, dtypes=('i64',)),
    Op('norm_p2_zero', 'norm', [Zeros(3, 4)], vnorm, args={'dim': [1]}),
    Op('norm_p1_zeros', 'norm', [Ints(3, 4)], vnorm,
       args={'p': 1, 'dim': [0]}),
    Op('norm_pinf_ties', 'norm', [Ints(3, 4)], vnorm,
       args={'p': float('inf'), 'dim': [1]}),
    Op('norm_p0', 'norm', [Ints(3, 4)], vnorm, args={'p': 0}),
    Op('norm_p_half', 'norm', [P(3, 4)], vnorm, args={'p': 0.5}),
    Op('prod_zeros', 'prod', [Ints(4, 5)], red1(torch.prod),
       args={'dim': 1}),
    Op('prod_zeros_all', 'prod', [In(3, 3, draw=with_special(randn, 0.0))],
       red1(torch.prod)),
    Op('prod_two_zeros', 'prod', [In(2, 6, draw=with_special(randn, 0.0,
                                                            0.0))],
       red1(torch.prod), args={'dim': 1}),
    Op('prod_bool', 'prod', [Bool(3, 4)], red1(torch.prod),
       args={'dim': 1}, dtypes=('i64',)),
    Op('max_dim_nan', 'max_dim', [Nan(3, 4)],
       lambda xs, a: torch.max(xs[0], a['dim'], a['keepdim']),
       args={'dim': 1, 'keepdim': False}),
    Op('max_dim_0dim', 'max_dim', [()],
       lambda xs, a: torch.max(xs[0], a['dim'], a['keepdim']),
       args={'dim': 0, 'keepdim': False}),
    Op('max_dim_big', 'max_dim', [(70, 130)],
       lambda xs, a: torch.max(xs[0], a['dim'], a['keepdim']),
       args={'dim': 0, 'keepdim': True}),
    Op('argmax_nan', 'argmax', [Nan(3, 4)], argm(torch.argmax),
       args={'dim': 1}),
    Op('argmin_int', 'argmin', [(3, 5)], argm(torch.argmin),
       args={'dim': 0}, dtypes=('i64',)),
    Op('argmax_empty_error', 'argmax', [(0, 3)], argm(torch.argmax),
       error=True),
    Op('cumsum_big', 'cumsum', [(40, 130)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 0}),
    Op('cumsum_big_rows', 'cumsum', [(40, 130)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 1},
       noncontig=[0]),
    Op('cumsum_0dim', 'cumsum', [()],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 0}),
    Op('cumsum_bool', 'cumsum', [Bool(3, 4)],
       lambda xs, a: torch.cumsum(xs[0], a['dim']), args={'dim': 1},
       dtypes=('i64',)),
    Op('all_empty', 'all', [(0, 3)], red1(torch.all), args={'dim': 0}),
    Op('any_nan', 'any', [In(2, 3, draw=lambda s: torch.tensor(
        [[0, NAN, 0], [0, 0, 0]]))], red1(torch.any), args={'dim': 1}),
    Op('sort_nan', 'sort', [Nan(3, 5)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim']), args={'dim': 1}),
    Op('sort_nan_desc', 'sort', [Nan(3, 5)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim'], descending=True),
       args={'dim': 1, 'descending': True}),
    Op('sort_stable_ties', 'sort', [Ints(3, 8)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim'], stable=True),
       args={'dim': -1, 'stable': True}),
    Op('sort_stable_ties_desc', 'sort', [Ints(8, 3)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim'], stable=True,
                                descending=True),
       args={'dim': 0, 'stable': True, 'descending': True}),
    Op('sort_big', 'sort', [(6, 300)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim']), args={'dim': 1}),
    Op('sort_0dim', 'sort', [()],
       lambda xs, a: torch.sort(xs[0], dim=a['dim']), args={'dim': 0}),
    Op('sort_int', 'sort', [(4, 6)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim']), args={'dim': 1},
       dtypes=('i64',)),
    Op('topk_k0', 'topk', [(3, 4)],
       lambda xs, a: torch.topk(xs[0], a['k'], a['dim']),
       args={'k': 0, 'dim': 1}),
    Op('topk_nan', 'topk', [Nan(3, 6)],
       lambda xs, a: torch.topk(xs[0], a['k'], a['dim']),
       args={'k': 2, 'dim': 1}),
    Op('topk_big', 'topk', [(4, 500)],
       lambda xs, a: torch.topk(xs[0], a['k'], a['dim']),
       args={'k': 20, 'dim': 1}),
    # indexing: negative dims, 0-dim index, empties
    Op('gather_negdim', 'gather', [(3, 4, 5), Idx(3, 4, 2, hi=5)],
       lambda xs, a: torch.gather(xs[0], a['dim'], xs[1]), args={'dim': -1}),
    Op('gather_smaller_index', 'gather', [(4, 5), Idx(2, 3, hi=4)],
       lambda xs, a: torch.gather(xs[0], a['dim'], xs[1]), args={'dim': 0}),
    Op('index_select_0dim_index', 'index_select', [(4, 5), Idx(hi=4)],
       lambda xs, a: torch.index_select(xs[0], a['dim'], xs[1]),
       args={'dim': 0}),
    Op('index_select_empty', 'index_select', [(4, 5), Idx(0, hi=4)],
       lambda xs, a: torch.index_select(xs[0], a['dim'], xs[1]),
       args={'dim': 1}),
    Op('index_select_big', 'index_select', [(50, 70), Idx(90, hi=50)],
       lambda xs, a: torch.index_select(xs[0], a['dim'], xs[1]),
       args={'dim': 0}),
    Op('scatter_add_big', 'scatter_add', [(20, 30), Idx(40, 30, hi=20),
                                          (40, 30)],
       lambda xs, a: xs[0].scatter_add(a['dim'], xs[1], xs[2]),
       args={'dim': 0}),
    Op('scatter_add_smaller_index', 'scatter_add',
       [(4, 5), Idx(3, 2, hi=5), (3, 2)],
       lambda xs, a: xs[0].scatter_add(a['dim'], xs[1], xs[2]),
       args={'dim': 1}),
    Op('index_add_big', 'index_add', [(30, 40), Idx(60, hi=30), (60, 40)],
       lambda xs, a: xs[0].index_add(a['dim'], xs[1], xs[2]),
       args={'dim': 0}),
    Op('index_add_error', 'index_add', [(5, 3), Idx(4, hi=5), (3, 3)],
       lambda xs, a: xs[0].index_add(a['dim'], xs[1], xs[2]),
       args={'dim': 0}, error=True),
    Op('masked_fill_0dim_mask', 'masked_fill', [(3, 4), Bool()],
       lambda xs, a: xs[0].masked_fill(xs[1], a['value']),
       args={'value': 7.0}),
    Op('masked_fill_nan', 'masked_fill', [(3, 4), Bool(3, 4)],
       lambda xs, a: xs[0].masked_fill(xs[1], a['value']),
       args={'value': NAN}),
    Op('masked_fill_int', 'masked_fill', [(3, 4), Bool(4)],
       lambda xs, a: xs[0].masked_fill(xs[1], a['value']),
       args={'value': 3}, dtypes=('i64',)),
    Op('masked_fill_mask_error', 'masked_fill', [(3, 4), (3, 4)],
       lambda xs, a: xs[0].masked_fill(xs[1], a['value']),
       args={'value': 1.0, 'no_grad': [1]}, error=True),
    Op('masked_select_empty', 'masked_select', [(3, 4), In(
        3, 4, draw=lambda s: torch.zeros(s), dtype=torch.bool)],
       lambda xs, a: torch.masked_select(xs[0], xs[1])),
    Op('nonzero_empty', 'nonzero', [Zeros(0, 3)],
       lambda xs, a: torch.nonzero(xs[0]), dtypes=('i64',)),
    Op('nonzero_0dim', 'nonzero', [Ints()],
       lambda xs, a: torch.nonzero(xs[0]), dtypes=('i64',)),
    Op('embedding_big', 'embedding', [(50, 16), Idx(7, 9, hi=50)],
       lambda xs, a: F.embedding(xs[1], xs[0])),
    Op('unique_nan_free_float', 'unique', [In(20, draw=lambda s: torch.randint(
        0, 4, s).double() * 0.5)], unique,
       args={'return_inverse': True, 'no_grad': [0]}),
    Op('unique_empty', 'unique', [(0,)], unique,
       args={'return_counts': True, 'no_grad': [0]}),
    # pad, roll, pixel shuffle: more shapes
    Op('pad_reflect_3d', 'pad', [(1, 2, 3, 4, 3)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [1, 2, 2, 0, 1, 1], 'mode': 'reflect'}),
    Op('pad_replicate_1d', 'pad', [(2, 3, 4)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [3, 5], 'mode': 'replicate'}, noncontig=[0]),
    Op('pad_constant_all_dims', 'pad', [(2, 3, 2)],
       lambda xs, a: F.pad(xs[0], a['pad'], value=a['value']),
       args={'pad': [1, 0, 0, 2, 1, 1], 'value': -2.0}),
    Op('pad_constant_int', 'pad', [(2, 3)],
       lambda xs, a: F.pad(xs[0], a['pad'], value=a['value']),
       args={'pad': [1, 1], 'value': 4}, dtypes=('i64',)),
    Op('pad_big', 'pad', [(2, 8, 20, 20)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [2, 3, 1, 4], 'mode': 'reflect'}),
    Op('pad_replicate_error', 'pad', [(2, 3)],
       lambda xs, a: F.pad(xs[0], a['pad'], mode=a['mode']),
       args={'pad': [1, 1, 1, 1, 1, 1], 'mode': 'replicate'}, error=True),
    Op('roll_negative_big_shift', 'roll', [(3, 4, 5)],
       lambda xs, a: torch.roll(xs[0], a['shifts'], a['dims']),
       args={'shifts': [-7, 13], 'dims': [-1, 1]}),
    Op('roll_flat_negative', 'roll', [(2, 5)],
       lambda xs, a: torch.roll(xs[0], a['shifts']), args={'shifts': [-3]},
       noncontig=[0]),
    Op('roll_error', 'roll', [(3, 4)],
       lambda xs, a: torch.roll(xs[0], a['shifts'], a['dims']),
       args={'shifts': [1, 2], 'dims': [0]}, error=True),
    Op('pixel_shuffle_3d_input', 'pixel_shuffle', [(9, 2, 2)],
       lambda xs, a: F.pixel_shuffle(xs[0], a['factor']),
       args={'factor': 3}),
    Op('pixel_shuffle_5d', 'pixel_shuffle', [(2, 2, 4, 2, 3)],
       lambda xs, a: F.pixel_shuffle(xs[0], a['factor']),
       args={'factor': 2}),
    Op('pixel_unshuffle_error', 'pixel_unshuffle', [(1, 2, 5, 4)],
       lambda xs, a: F.pixel_unshuffle(xs[0], a['factor']),
       args={'factor': 2}, error=True),
    # elementwise: special values and broadcasting on the optimised paths
    Op('maximum_nan', 'maximum', [Nan(3, 4), (3, 4)],
       lambda xs, a: torch.maximum(*xs)),
    Op('minimum_ties', 'minimum', [Ints(3, 4), Ints(3, 4)],
       lambda xs, a: torch.minimum(*xs)),
    Op('maximum_big_broadcast', 'maximum', [(40, 1, 70), (33, 70)],
       lambda xs, a: torch.maximum(*xs)),
    Op('clamp_nan', 'clamp', [Nan(3, 4)],
       lambda xs, a: torch.clamp(xs[0], a['min'], a['max']),
       args={'min': -0.5, 'max': 0.5}),
    Op('clamp_at_bounds', 'clamp', [In(5, draw=lambda s: torch.tensor(
        [-1.0, -0.5, 0.0, 0.5, 1.0]))],
       lambda xs, a: torch.clamp(xs[0], a['min'], a['max']),
       args={'min': -0.5, 'max': 0.5}),
    Op('abs_zero', 'abs', [In(4, draw=lambda s: torch.tensor(
        [0.0, -0.0, 1.5, -2.0]))], lambda xs, a: torch.abs(xs[0])),
    Op('relu6_kinks', 'relu6', [In(5, draw=lambda s: torch.tensor(
        [-1.0, 0.0, 3.0, 6.0, 7.0]))], lambda xs, a: F.relu6(xs[0])),
    # torch's hardswish gradient at x = 3 is 1.5 in its scalar loop and 1 in
    # its vectorised one (mm: 1): the kinks sit in a 64-element tensor, which
    # torch runs vectorised.
    Op('hardswish_kinks', 'hardswish', [In(64, draw=lambda s: torch.cat([
        torch.tensor([-4.0, -3.0, 0.0, 3.0, 4.0]), torch.randn(59) * 4]))],
       lambda xs, a: F.hardswish(xs[0])),
    Op('hardsigmoid_kinks', 'hardsigmoid', [In(5, draw=lambda s: torch.tensor(
        [-4.0, -3.0, 0.0, 3.0, 4.0]))], lambda xs, a: F.hardsigmoid(xs[0])),
    Op('sqrt_zero_neg', 'sqrt', [In(3, draw=lambda s: torch.tensor(
        [0.0, -1.0, 4.0]))], lambda xs, a: torch.sqrt(xs[0])),
    Op('sign_nan', 'sign', [Nan(2, 3)], lambda xs, a: torch.sign(xs[0])),
    Op('pow_zero_base', 'pow', [In(4, draw=lambda s: torch.tensor(
        [0.0, 0.0, 2.0, 0.0])), In(4, draw=lambda s: torch.tensor(
            [2.0, 0.0, 0.5, 0.5]))], lambda xs, a: torch.pow(*xs)),
    Op('pow_scalar_zero_base', 'pow_scalar', [In(3, draw=lambda s:
                                                  torch.tensor(
                                                      [0.0, 1.0, -2.0]))],
       lambda xs, a: torch.pow(xs[0], a['exponent']),
       args={'exponent': 0.0}),
    # bf16 / f16: computed in float and rounded once, as torch's CPU kernels
    # (torch 1.13's CPU relu / gelu / silu refuse f16: bf16 rows only; its
    # bf16 silu_backward rounds intermediates, so that row checks forward)
    Op('add_half', 'add', [(33, 70), (33, 70)],
       lambda xs, a: torch.add(*xs), noncontig=[0], dtypes=HALF),
    Op('mul_half_broadcast', 'mul', [(40, 33, 1), (33, 70)],
       lambda xs, a: torch.mul(*xs), dtypes=HALF),
    Op('relu_half', 'relu', [(33, 70)], lambda xs, a: torch.relu(xs[0]),
       noncontig=[0], dtypes=('bf16',)),
    Op('gelu_half', 'gelu', [Wide(33, 70)], lambda xs, a: F.gelu(xs[0]),
       dtypes=('bf16',)),
    Op('silu_half', 'silu', [Wide(33, 70)], lambda xs, a: F.silu(xs[0]),
       args={'no_grad': [0]}, noncontig=[0], dtypes=('bf16',)),
    Op('sum_half_dim', 'sum', [(70, 130)], red(torch.sum), args={'dim': -1},
       dtypes=HALF),
    Op('mean_half_all', 'mean', [(70, 130)], red(torch.mean), dtypes=HALF),
    Op('gelu_big', 'gelu', [Wide(70, 130)], lambda xs, a: F.gelu(xs[0])),
    Op('silu_big', 'silu', [Wide(70, 130)], lambda xs, a: F.silu(xs[0]),
       noncontig=[0]),
    Op('softplus_big', 'softplus', [Wide(70, 130)],
       lambda xs, a: F.softplus(xs[0])),
    Op('where_big', 'where', [Bool(40, 1, 70), (33, 70), (40, 33, 1)],
       lambda xs, a: torch.where(*xs)),
    Op('erf_big', 'erf', [Wide(70, 130)], lambda xs, a: torch.erf(xs[0])),
]

OPS += edge_rows

def full_false_row(s):
    """A bool attention mask whose first query row attends to nothing."""
    m = torch.rand(s) < 0.6
    m[..., 0, :] = False
    m[..., 1:, 0] = True
    return m.double()


edge_rows2 = [
    Op('sdpa_masked_out_row', 'scaled_dot_product_attention',
       [(2, 3, 4), (2, 5, 4), (2, 5, 3),
        In(3, 5, draw=full_false_row, dtype=torch.bool)], sdpa),
    Op('sdpa_float_mask_neg_inf', 'scaled_dot_product_attention',
       [(1, 3, 4), (1, 4, 4), (1, 4, 2), In(3, 4, draw=with_special(
           randn, -INF, -INF))], sdpa, args={'no_grad': [3]}),
    Op('softmax_all_neg_inf_row', 'softmax', [In(2, 4, draw=lambda s:
                                                  torch.tensor(
                                                      [[-INF] * 4,
                                                       [0., 1., -INF, 2.]]))],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 1}),
    Op('log_softmax_neg_inf', 'log_softmax', [In(3, 5, draw=with_special(
        randn, -INF))],
       lambda xs, a: torch.log_softmax(xs[0], a['dim']), args={'dim': 1}),
    Op('conv2d_padding_gt_kernel', 'conv2d', [(1, 2, 4, 4), (3, 2, 2, 2),
                                              (3,)],
       conv('conv2d', F.conv2d, CONV_KW), args={'padding': [3, 1]}),
    Op('conv2d_dtype_error', 'conv2d', [(1, 2, 4, 4), In(3, 2, 2, 2,
                                                         dtype=torch.float64)],
       conv('conv2d', F.conv2d, CONV_KW), dtypes=('f32',), error=True),
    Op('conv2d_1x1_stride', 'conv2d', [(2, 8, 7, 7), (4, 8, 1, 1), (4,)],
       conv('conv2d', F.conv2d, CONV_KW), args={'stride': 2},
       noncontig=[0]),
    Op('max_pool3d_dil_pad_ceil', 'max_pool3d', [(1, 2, 7, 6, 7)],
       pool(F.max_pool3d, MAXP_KW),
       args={'kernel_size': 2, 'stride': 2, 'padding': 1, 'dilation': 2,
             'ceil_mode': True, 'return_indices': True}),
    Op('avg_pool3d_ceil_include_pad', 'avg_pool3d', [(1, 2, 5, 6, 5)],
       pool(F.avg_pool3d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1,
             'ceil_mode': True, 'count_include_pad': True}),
    Op('avg_pool2d_divisor_ceil_exclude', 'avg_pool2d', [(1, 2, 7, 7)],
       pool(F.avg_pool2d, AVGP_KW),
       args={'kernel_size': 3, 'stride': 2, 'padding': 1, 'ceil_mode': True,
             'count_include_pad': False, 'divisor_override': 2}),
    Op('adaptive_avg_pool2d_up', 'adaptive_avg_pool2d', [(1, 2, 3, 2)],
       adaptive(F.adaptive_avg_pool2d), args={'output_size': [5, 7]}),
    # (groups of 2 elements would normalise to +-1 whatever the input: a
    # gradient of rounding noise in both)
    Op('group_norm_2d_input', 'group_norm', [(4, 12), (12,), (12,)],
       lambda xs, a: F.group_norm(xs[0], a['num_groups'], xs[1], xs[2]),
       args={'num_groups': 3}),
    Op('batch_norm_noncontig_x', 'batch_norm',
       [(3, 4, 5), (4,), P(4), (4,), (4,)], stat_norm(False),
       args=dict(SN, training=True), noncontig=[0, 3]),
    Op('instance_norm_1d_input_error', 'instance_norm',
       [(3, 4), Zero(4), Zero(4), Zero(4), Zero(4)], stat_norm(True),
       args={'none': [1, 2, 3, 4]}, error=True),
    Op('argmax_ties_first', 'argmax', [Ints(4, 7)], argm(torch.argmax),
       args={'dim': 1}),
    Op('argmin_ties_flat', 'argmin', [Ints(4, 7)], argm(torch.argmin)),
    Op('max_dim_ties_first', 'max_dim', [Ints(5, 6)],
       lambda xs, a: torch.max(xs[0], a['dim'], a['keepdim']),
       args={'dim': 1, 'keepdim': False}),
    Op('min_dim_ties_int', 'min_dim', [Ints(5, 6)],
       lambda xs, a: torch.min(xs[0], a['dim'], a['keepdim']),
       args={'dim': 0, 'keepdim': True}, dtypes=('i64',)),
    Op('argsort_stable_ties', 'argsort', [Ints(3, 9)],
       lambda xs, a: torch.sort(xs[0], dim=a['dim'], stable=True)[1],
       args={'dim': 1, 'stable': True}),
    # No prod case with NaN or inf inputs: mm's gradient is the product of
    # the other elements (prefix times suffix), torch's g * y / x where no
    # element is zero, NaN at a NaN or inf element and, for a NaN, at every
    # element of its group (mm: NaN at the others only).
    Op('prod_empty', 'prod', [(0, 3)], red1(torch.prod), args={'dim': 0}),
    Op('sum_bool', 'sum', [Bool(3, 4)], red(torch.sum), args={'dim': 1},
       dtypes=('i64',)),
    Op('var_int_error', 'var', [(3, 4)], varstd(torch.var), args={'dim': [1]},
       dtypes=('i64',), error=True),
    Op('one_hot_empty_infer_error', 'one_hot', [Idx(0, hi=3)],
       lambda xs, a: F.one_hot(xs[0]), dtypes=('i64',), error=True),
    Op('one_hot_empty', 'one_hot', [Idx(0, hi=3)],
       lambda xs, a: F.one_hot(xs[0], a['num_classes']),
       args={'num_classes': 3}, dtypes=('i64',)),
    Op('gather_empty_index', 'gather', [(3, 4), Idx(3, 0, hi=4)],
       lambda xs, a: torch.gather(xs[0], a['dim'], xs[1]), args={'dim': 1}),
    Op('unique_noncontig', 'unique', [Ints(4, 5)], unique,
       args={'return_inverse': True, 'return_counts': True, 'no_grad': [0]},
       noncontig=[0]),
    Op('pad_empty_dim', 'pad', [(2, 0, 3)],
       lambda xs, a: F.pad(xs[0], a['pad'], value=a['value']),
       args={'pad': [1, 1, 2, 0], 'value': 1.0}),
    Op('interpolate_bicubic_big_ac', 'interpolate', [(2, 8, 9, 10)], interp,
       args={'size': [17, 13], 'mode': 'bicubic', 'align_corners': True}),
    Op('interpolate_nearest_big', 'interpolate', [(2, 8, 9, 10)], interp,
       args={'scale_factor': [2.0, 3.0], 'mode': 'nearest'}),
    Op('grid_sample_nearest_big', 'grid_sample',
       [(2, 8, 12, 10), Grid(2, 9, 11, 2)], gsample,
       args={'mode': 'nearest', 'padding_mode': 'zeros',
             'align_corners': True}),
    Op('grid_sample_int_error', 'grid_sample',
       [(1, 2, 4, 5), Grid(1, 3, 4, 2)], gsample,
       args={'align_corners': False}, dtypes=('i64',), error=True),
    Op('layer_norm_int_error', 'layer_norm', [(3, 4), Zero(4), Zero(4)],
       lambda xs, a: F.layer_norm(xs[0], a['normalized_shape']),
       args={'normalized_shape': [4], 'none': [1, 2]}, dtypes=('i64',),
       error=True),
    Op('softmax_int_error', 'softmax', [(3, 4)],
       lambda xs, a: torch.softmax(xs[0], a['dim']), args={'dim': 1},
       dtypes=('i64',), error=True),
]

OPS += edge_rows2

# ---- losses -------------------------------------------------------------------

def Probs(*shape, dim=-1):
    """Class probabilities along dim (a soft target)."""
    return In(*shape, draw=lambda s: torch.softmax(randn(s), dim))


def LogProbs(*shape):
    return In(*shape, draw=lambda s: torch.log_softmax(randn(s), 1 if len(s)
                                                       > 1 else 0))


def Unit(*shape):
    """Probabilities away from 0 and 1."""
    return In(*shape, draw=lambda s: torch.rand(s, dtype=torch.float64) * 0.9
              + 0.05)


def TargetIgnore(*shape, hi, ignore):
    """Class indices in [0, hi) with some set to ignore (not all)."""
    def draw(s):
        t = torch.randint(0, hi, s)
        flat = t.reshape(-1)
        flat[1::3] = ignore
        return t.double()
    return In(*shape, draw=draw, dtype=torch.int64)


def loss_kw(a, *keys):
    return pick(a, 'reduction', *keys)


def ce(xs, a):
    return F.cross_entropy(xs[0], xs[1], weight=opt(xs, a, 2),
                           **loss_kw(a, 'ignore_index', 'label_smoothing'))


def nll(xs, a):
    return F.nll_loss(xs[0], xs[1], weight=opt(xs, a, 2),
                      **loss_kw(a, 'ignore_index'))


def bce(xs, a):
    return F.binary_cross_entropy(xs[0], xs[1], weight=opt(xs, a, 2),
                                  **loss_kw(a))


def bcel(xs, a):
    return F.binary_cross_entropy_with_logits(
        xs[0], xs[1], weight=opt(xs, a, 2), pos_weight=opt(xs, a, 3),
        **loss_kw(a))


loss_rows = [
    Op('cross_entropy', 'cross_entropy', [(4, 5), Idx(4, hi=5)], ce,
       noncontig=[0]),
    Op('cross_entropy_sum', 'cross_entropy', [(4, 5), Idx(4, hi=5)], ce,
       args={'reduction': 'sum'}),
    Op('cross_entropy_none_weight', 'cross_entropy',
       [(6, 3), Idx(6, hi=3), P(3)], ce, args={'reduction': 'none'}),
    Op('cross_entropy_weight_ignore', 'cross_entropy',
       [(6, 4), TargetIgnore(6, hi=4, ignore=-100), P(4)], ce),
    Op('cross_entropy_ignore_class', 'cross_entropy',
       [(7, 4), TargetIgnore(7, hi=4, ignore=2)], ce,
       args={'ignore_index': 2}),
    Op('cross_entropy_spatial', 'cross_entropy',
       [(2, 3, 4, 5), Idx(2, 4, 5, hi=3), P(3)], ce),
    Op('cross_entropy_spatial_none', 'cross_entropy',
       [(2, 3, 4), TargetIgnore(2, 4, hi=3, ignore=-100)], ce,
       args={'reduction': 'none'}),
    Op('cross_entropy_unbatched', 'cross_entropy', [(5,), Idx(hi=5)], ce),
    Op('cross_entropy_smoothing', 'cross_entropy', [(5, 4), Idx(5, hi=4)], ce,
       args={'label_smoothing': 0.1}),
    Op('cross_entropy_smoothing_weight_ignore', 'cross_entropy',
       [(6, 4), TargetIgnore(6, hi=4, ignore=-100), P(4)], ce,
       args={'label_smoothing': 0.2}),
    Op('cross_entropy_smoothing_sum_none', 'cross_entropy',
       [(2, 3, 4), TargetIgnore(2, 4, hi=3, ignore=1), P(3)], ce,
       args={'label_smoothing': 0.3, 'reduction': 'sum', 'ignore_index': 1}),
    Op('cross_entropy_probs', 'cross_entropy', [(4, 5), Probs(4, 5)], ce),
    Op('cross_entropy_probs_spatial_weight', 'cross_entropy',
       [(2, 3, 4), Probs(2, 3, 4, dim=1), P(3)], ce,
       args={'reduction': 'none'}),
    Op('cross_entropy_probs_smoothing', 'cross_entropy',
       [(4, 5), Probs(4, 5)], ce, args={'label_smoothing': 0.15}),
    Op('cross_entropy_big', 'cross_entropy', [(64, 100), Idx(64, hi=100)],
       ce),
    Op('cross_entropy_target_error', 'cross_entropy',
       [(3, 4), In(3, draw=lambda s: torch.tensor([0., 4., 1.]),
                   dtype=torch.int64)], ce, error=True),
    Op('cross_entropy_shape_error', 'cross_entropy',
       [(3, 4), Idx(2, hi=4)], ce, error=True),
    Op('nll_loss', 'nll_loss', [LogProbs(5, 4), Idx(5, hi=4)], nll),
    Op('nll_loss_weight_ignore_sum', 'nll_loss',
       [LogProbs(6, 3), TargetIgnore(6, hi=3, ignore=-100), P(3)], nll,
       args={'reduction': 'sum'}),
    Op('nll_loss_spatial_none', 'nll_loss',
       [LogProbs(2, 3, 4), Idx(2, 4, hi=3)], nll,
       args={'reduction': 'none'}),
    Op('binary_cross_entropy', 'binary_cross_entropy',
       [Unit(3, 4), Unit(3, 4)], bce, noncontig=[0]),
    Op('binary_cross_entropy_weight_sum', 'binary_cross_entropy',
       [Unit(3, 4), Unit(3, 4), P(4)], bce, args={'reduction': 'sum'}),
    Op('binary_cross_entropy_none', 'binary_cross_entropy',
       [Unit(2, 3), In(2, 3, draw=lambda s: torch.randint(0, 2, s).double())],
       bce, args={'reduction': 'none'}),
    Op('binary_cross_entropy_log_clamp', 'binary_cross_entropy',
       [In(4, draw=lambda s: torch.tensor([0.0, 1.0, 0.0, 1.0])),
        In(4, draw=lambda s: torch.tensor([1.0, 0.0, 0.0, 1.0]))],
       bce, args={'reduction': 'none', 'no_grad': [0]}),
    Op('binary_cross_entropy_range_error', 'binary_cross_entropy',
       [In(3, draw=lambda s: torch.tensor([0.5, 1.5, 0.2])), Unit(3)], bce,
       error=True),
    Op('bce_with_logits', 'binary_cross_entropy_with_logits',
       [Wide(3, 4), Unit(3, 4)], bcel, noncontig=[1]),
    Op('bce_with_logits_weight_pos_weight', 'binary_cross_entropy_with_logits',
       [(3, 4), Unit(3, 4), P(3, 1), P(4)], bcel),
    Op('bce_with_logits_pos_weight_none', 'binary_cross_entropy_with_logits',
       [Wide(2, 3, 4), Unit(2, 3, 4), Zero(1), P(4)], bcel,
       args={'reduction': 'none', 'none': [2]}),
    Op('bce_with_logits_sum', 'binary_cross_entropy_with_logits',
       [(5,), Unit(5)], bcel, args={'reduction': 'sum'}),
    Op('bce_with_logits_big', 'binary_cross_entropy_with_logits',
       [Wide(64, 100), Unit(64, 100)], bcel),
    Op('mse_loss', 'mse_loss', [(3, 4), (3, 4)],
       lambda xs, a: F.mse_loss(*xs, **loss_kw(a)), noncontig=[0]),
    Op('mse_loss_sum', 'mse_loss', [(3, 4), (3, 4)],
       lambda xs, a: F.mse_loss(*xs, **loss_kw(a)),
       args={'reduction': 'sum'}),
    Op('mse_loss_none_0dim', 'mse_loss', [(), ()],
       lambda xs, a: F.mse_loss(*xs, **loss_kw(a)),
       args={'reduction': 'none'}),
    Op('l1_loss', 'l1_loss', [(3, 4), (3, 4)],
       lambda xs, a: F.l1_loss(*xs, **loss_kw(a)), noncontig=[1]),
    Op('l1_loss_none_ties', 'l1_loss', [Ints(3, 4), Ints(3, 4)],
       lambda xs, a: F.l1_loss(*xs, **loss_kw(a)),
       args={'reduction': 'none'}),
    Op('smooth_l1_loss', 'smooth_l1_loss', [Wide(3, 4), Wide(3, 4)],
       lambda xs, a: F.smooth_l1_loss(*xs, **loss_kw(a)), noncontig=[0]),
    Op('smooth_l1_loss_beta_sum', 'smooth_l1_loss', [(3, 4), (3, 4)],
       lambda xs, a: F.smooth_l1_loss(*xs, beta=a['beta'], **loss_kw(a)),
       args={'beta': 0.5, 'reduction': 'sum'}),
    Op('smooth_l1_loss_beta0', 'smooth_l1_loss', [(3, 4), (3, 4)],
       lambda xs, a: F.smooth_l1_loss(*xs, beta=a['beta'], **loss_kw(a)),
       args={'beta': 0.0, 'reduction': 'none'}),
    Op('mse_loss_big', 'mse_loss', [(70, 130), (70, 130)],
       lambda xs, a: F.mse_loss(*xs, **loss_kw(a))),
    # mm's pointwise losses refuse a target of another shape where torch
    # broadcasts with a warning: no such case.
]
# torch 1.13 refuses class weights and pos_weight that require grad (its
# losses are not differentiable in them); mm accepts them.
for r in loss_rows:
    if len(r.ins) > 2:
        r.args['no_grad'] = sorted(set(r.args.get('no_grad', [])) | {2, 3})

OPS += loss_rows

# ---- the optimizer table -------------------------------------------------


class Optim:
    """kind: the driver's optimizer; cls: torch's class; groups: list of
    dicts {'params': [indices], hyper-parameters by mm's names}; shapes: the
    parameters; set_lr: [(step, group, lr)] applied before that step; skip:
    [(step, param)]: no gradient then."""

    def __init__(self, name, kind, cls, groups, shapes=((4, 3), (5,)),
                 steps=20, set_lr=(), skip=()):
        self.name, self.kind, self.cls = name, kind, cls
        self.groups, self.shapes, self.steps = groups, shapes, steps
        self.set_lr, self.skip = list(set_lr), list(skip)
        self.dtypes = ('f32', 'f64')


def torch_group(g):
    """mm's group keys -> torch's (beta1/beta2 -> betas)."""
    out = {k: v for k, v in g.items() if k not in ('beta1', 'beta2')}
    if 'beta1' in g or 'beta2' in g:
        out['betas'] = (g.get('beta1', 0.9), g.get('beta2', 0.999))
    return out


ALL = [0, 1]
OPTIMS = [
    Optim('sgd', 'sgd', torch.optim.SGD, [{'params': ALL, 'lr': 0.1}]),
    Optim('sgd_momentum_dampening', 'sgd', torch.optim.SGD,
          [{'params': ALL, 'lr': 0.05, 'momentum': 0.9, 'dampening': 0.3}]),
    Optim('sgd_nesterov_weight_decay', 'sgd', torch.optim.SGD,
          [{'params': ALL, 'lr': 0.05, 'momentum': 0.8, 'nesterov': True,
            'weight_decay': 0.01}]),
    Optim('sgd_maximize', 'sgd', torch.optim.SGD,
          [{'params': ALL, 'lr': 0.02, 'momentum': 0.5, 'maximize': True}]),
    Optim('adam', 'adam', torch.optim.Adam, [{'params': ALL, 'lr': 0.01}]),
    Optim('adam_weight_decay_amsgrad', 'adam', torch.optim.Adam,
          [{'params': ALL, 'lr': 0.01, 'weight_decay': 0.1, 'amsgrad': True,
            'beta1': 0.8, 'beta2': 0.95, 'eps': 1e-6}]),
    Optim('adam_maximize', 'adam', torch.optim.Adam,
          [{'params': ALL, 'lr': 0.01, 'maximize': True}]),
    Optim('adamw', 'adamw', torch.optim.AdamW,
          [{'params': ALL, 'lr': 0.01}]),
    Optim('adamw_amsgrad', 'adamw', torch.optim.AdamW,
          [{'params': ALL, 'lr': 0.02, 'weight_decay': 0.05,
            'amsgrad': True}]),
    Optim('adamw_maximize', 'adamw', torch.optim.AdamW,
          [{'params': ALL, 'lr': 0.01, 'maximize': True,
            'weight_decay': 0.1}]),
    Optim('rmsprop', 'rmsprop', torch.optim.RMSprop,
          [{'params': ALL, 'lr': 0.01}]),
    Optim('rmsprop_centered', 'rmsprop', torch.optim.RMSprop,
          [{'params': ALL, 'lr': 0.01, 'centered': True, 'alpha': 0.9}]),
    Optim('rmsprop_momentum_centered_weight_decay', 'rmsprop',
          torch.optim.RMSprop,
          [{'params': ALL, 'lr': 0.005, 'momentum': 0.9, 'centered': True,
            'weight_decay': 0.01, 'eps': 1e-6}]),
    Optim('rmsprop_momentum_maximize', 'rmsprop', torch.optim.RMSprop,
          [{'params': ALL, 'lr': 0.005, 'momentum': 0.5, 'maximize': True}]),
    Optim('adagrad', 'adagrad', torch.optim.Adagrad,
          [{'params': ALL, 'lr': 0.1}]),
    Optim('adagrad_lr_decay_weight_decay_init', 'adagrad',
          torch.optim.Adagrad,
          [{'params': ALL, 'lr': 0.1, 'lr_decay': 0.05, 'weight_decay': 0.02,
            'initial_accumulator_value': 0.5, 'eps': 1e-8}]),
    Optim('adagrad_maximize', 'adagrad', torch.optim.Adagrad,
          [{'params': ALL, 'lr': 0.1, 'maximize': True,
            'weight_decay': 0.05}]),
    # two groups, an lr change mid-run (a scheduler), missing gradients
    Optim('sgd_groups_set_lr_skip', 'sgd', torch.optim.SGD,
          [{'params': [0], 'lr': 0.1, 'momentum': 0.9},
           {'params': [1, 2], 'lr': 0.01, 'momentum': 0.5,
            'weight_decay': 0.1}],
          shapes=((3, 2), (4,), (2, 2, 2)), set_lr=[(10, 0, 0.03)],
          skip=[(0, 2), (5, 1), (6, 1)]),
    Optim('adam_groups_set_lr_skip', 'adam', torch.optim.Adam,
          [{'params': [1], 'lr': 0.02, 'amsgrad': True},
           {'params': [0, 2], 'lr': 0.005}],
          shapes=((3, 2), (4,), (2, 2, 2)), set_lr=[(7, 1, 0.05)],
          skip=[(0, 0), (3, 2), (4, 2)]),
    Optim('rmsprop_groups_skip', 'rmsprop', torch.optim.RMSprop,
          [{'params': [0], 'centered': True},
           {'params': [1], 'momentum': 0.9}],
          skip=[(2, 0), (3, 1)], set_lr=[(12, 1, 0.002)]),
    Optim('adagrad_groups_skip', 'adagrad', torch.optim.Adagrad,
          [{'params': [0], 'lr_decay': 0.1}, {'params': [1], 'lr': 0.05}],
          skip=[(0, 1), (9, 0)]),
]

# ---- the module table ------------------------------------------------------


class Mod:
    """A layer built from cfg (torch's class name as 'type' and its
    constructor arguments: the same config builds mm's module through the
    MODELS registry), random parameters and buffers copied from torch through
    its state_dict, one forward in training or eval mode and one backward:
    the output, the input gradients, every parameter's gradient and the
    buffers after the call are compared. fwd(module, xs, args) replaces
    module(*xs) where the call needs keywords."""

    def __init__(self, name, cfg, ins, training=True, fwd=None, args=None,
                 error=False, dtypes=('f32', 'f64')):
        self.name, self.cfg, self.training, self.fwd = name, cfg, training, fwd
        self.ins = [i if isinstance(i, In) else In(*i) for i in ins]
        self.args, self.error, self.dtypes = dict(args or {}), error, dtypes


def mha_forward(m, xs, a):
    q = xs[0]
    k = opt(xs, a, 1)
    k = q if k is None else k
    v = opt(xs, a, 2)
    v = k if v is None else v
    return m(q, k, v, key_padding_mask=opt(xs, a, 3),
             attn_mask=opt(xs, a, 4), need_weights=False)[0]


def padding_mask(s):
    """A key_padding_mask (N, S), true = ignored, keeping key 0 for all."""
    m = torch.rand(s) < 0.4
    m[:, 0] = False
    return m.double()


MHA = {'type': 'MultiheadAttention', 'embed_dim': 8, 'num_heads': 2}
MODS = [
    Mod('Linear', {'type': 'Linear', 'in_features': 4, 'out_features': 3},
        [(2, 5, 4)]),
    Mod('Linear_nobias', {'type': 'Linear', 'in_features': 6,
                          'out_features': 2, 'bias': False}, [(3, 6)]),
    Mod('Linear_error', {'type': 'Linear', 'in_features': 4,
                         'out_features': 3}, [(2, 5)], error=True),
    Mod('Conv2d', {'type': 'Conv2d', 'in_channels': 3, 'out_channels': 4,
                   'kernel_size': 3, 'stride': 2, 'padding': 1},
        [(2, 3, 7, 6)]),
    Mod('Conv2d_groups_dil_nobias', {'type': 'Conv2d', 'in_channels': 4,
                                     'out_channels': 6, 'kernel_size': [3, 2],
                                     'dilation': 2, 'groups': 2,
                                     'bias': False}, [(1, 4, 8, 7)]),
    Mod('Conv2d_reflect', {'type': 'Conv2d', 'in_channels': 2,
                           'out_channels': 3, 'kernel_size': 3, 'padding': 1,
                           'padding_mode': 'reflect'}, [(2, 2, 5, 6)]),
    Mod('Conv2d_replicate', {'type': 'Conv2d', 'in_channels': 2,
                             'out_channels': 3, 'kernel_size': 3,
                             'padding': [2, 1],
                             'padding_mode': 'replicate'}, [(1, 2, 5, 6)]),
    Mod('Conv2d_error', {'type': 'Conv2d', 'in_channels': 3,
                         'out_channels': 4, 'kernel_size': 3},
        [(2, 2, 7, 6)], error=True),
    Mod('BatchNorm2d_train', {'type': 'BatchNorm2d', 'num_features': 3},
        [(4, 3, 3, 2)]),
    Mod('BatchNorm2d_eval', {'type': 'BatchNorm2d', 'num_features': 3},
        [(4, 3, 3, 2)], training=False),
    Mod('BatchNorm2d_momentum_none', {'type': 'BatchNorm2d',
                                      'num_features': 2, 'momentum': None,
                                      'eps': 1e-3}, [(3, 2, 2, 2)]),
    Mod('BatchNorm2d_no_affine', {'type': 'BatchNorm2d', 'num_features': 3,
                                  'affine': False, 'momentum': 0.3},
        [(2, 3, 4, 2)]),
    Mod('BatchNorm2d_no_stats', {'type': 'BatchNorm2d', 'num_features': 3,
                                 'track_running_stats': False},
        [(2, 3, 4, 2)], training=False),
    Mod('BatchNorm2d_error', {'type': 'BatchNorm2d', 'num_features': 3},
        [(4, 3, 5)], error=True),
    Mod('LayerNorm', {'type': 'LayerNorm', 'normalized_shape': [4]},
        [(3, 5, 4)]),
    Mod('LayerNorm_2d_eps', {'type': 'LayerNorm', 'normalized_shape': [3, 4],
                             'eps': 1e-3}, [(2, 3, 4)]),
    Mod('LayerNorm_no_affine', {'type': 'LayerNorm', 'normalized_shape': [6],
                                'elementwise_affine': False}, [(4, 6)]),
    Mod('MultiheadAttention', MHA, [(3, 2, 8), (4, 2, 8), (4, 2, 8)],
        fwd=mha_forward),
    Mod('MultiheadAttention_self', MHA, [(5, 2, 8)], fwd=mha_forward),
    Mod('MultiheadAttention_batch_first_eval',
        dict(MHA, batch_first=True), [(2, 3, 8), (2, 4, 8), (2, 4, 8)],
        fwd=mha_forward, training=False),
    Mod('MultiheadAttention_kdim_vdim_nobias',
        dict(MHA, kdim=5, vdim=3, bias=False),
        [(3, 2, 8), (4, 2, 5), (4, 2, 3)], fwd=mha_forward),
    Mod('MultiheadAttention_masks', dict(MHA, num_heads=4),
        [(3, 2, 8), (4, 2, 8), (4, 2, 8),
         In(2, 4, draw=padding_mask, dtype=torch.bool), (3, 4)],
        fwd=mha_forward, args={'no_grad': [4]}),
    Mod('MultiheadAttention_bool_attn_mask', MHA,
        [(4, 8), (4, 8), (4, 8), Zero(1),
         In(4, 4, draw=lambda s: ~torch.ones(s, dtype=torch.bool).tril()
            .double().bool(), dtype=torch.bool)],
        fwd=mha_forward, args={'none': [3]}),
    Mod('MultiheadAttention_error', MHA, [(3, 2, 8), (4, 2, 6), (4, 2, 8)],
        fwd=mha_forward, error=True),
]


# mm's aliases (mmcv's names) and the torch class each stands for.
ALIASES = {'BN': 'BatchNorm2d', 'BN1d': 'BatchNorm1d', 'BN2d': 'BatchNorm2d',
           'BN3d': 'BatchNorm3d', 'GN': 'GroupNorm', 'LN': 'LayerNorm',
           'IN': 'InstanceNorm2d', 'IN1d': 'InstanceNorm1d',
           'IN2d': 'InstanceNorm2d', 'IN3d': 'InstanceNorm3d',
           'Swish': 'SiLU', 'HSwish': 'Hardswish', 'Conv': 'Conv2d',
           'deconv': 'ConvTranspose2d', 'deconv3d': 'ConvTranspose3d',
           'DropPath': 'Identity'}  # DropPath: eval or drop_prob 0 only


class HSigmoidT(torch.nn.Module):
    """mmcv's HSigmoid: clamp((x + bias) / divisor, min_value, max_value)
    (mm's docs; mmcv >= 1.4's defaults bias 3, divisor 6, min 0, max 1)."""

    def __init__(self, bias=3.0, divisor=6.0, min_value=0.0, max_value=1.0):
        super().__init__()
        self.a = (bias, divisor, min_value, max_value)

    def forward(self, x):
        b, d, lo, hi = self.a
        return torch.clamp((x + b) / d, lo, hi)


class ModuleListT(torch.nn.ModuleList):
    """A ModuleList run as its children in order (the driver does too)."""

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


NORM_NAMES = {'BN': 'bn', 'BatchNorm2d': 'bn', 'GN': 'gn', 'GroupNorm': 'gn'}


class ConvModuleT(torch.nn.Module):
    """mmcv's ConvModule written out: children conv, bn/gn, activate (the
    keys of mmcv's state_dict), called in `order`."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, bias='auto', norm_cfg=None,
                 act_cfg={'type': 'ReLU'}, order=('conv', 'norm', 'act'),
                 inplace=True, padding_mode='zeros'):
        super().__init__()
        self.order = tuple(order)
        if bias == 'auto':
            bias = norm_cfg is None
        self.conv = torch.nn.Conv2d(in_channels, out_channels, kernel_size,
                                    stride, padding, dilation, groups, bias,
                                    padding_mode)
        self.norm_name = None
        if norm_cfg is not None:
            kw = dict(norm_cfg)
            t = kw.pop('type')
            ch = (out_channels if self.order.index('norm') >
                  self.order.index('conv') else in_channels)
            if t in ('GN', 'GroupNorm'):
                norm = torch.nn.GroupNorm(num_channels=ch, **kw)
            else:
                norm = torch.nn.BatchNorm2d(ch, **kw)
            self.norm_name = NORM_NAMES[t]
            self.add_module(self.norm_name, norm)
        self.activate = None
        if act_cfg is not None:
            self.activate = build_torch_module(act_cfg)

    def forward(self, x):
        for layer in self.order:
            if layer == 'conv':
                x = self.conv(x)
            elif layer == 'norm' and self.norm_name:
                x = getattr(self, self.norm_name)(x)
            elif layer == 'act' and self.activate is not None:
                x = self.activate(x)
        return x


def build_torch_module(cfg):
    """torch's module for a config: torch.nn.<type>(**cfg), mm's aliases
    mapped to torch's classes, containers and ConvModule built here."""
    kw = dict(cfg)
    t = kw.pop('type')
    t = ALIASES.get(t, t)
    if t == 'Sequential':
        return torch.nn.Sequential(*[build_torch_module(c)
                                     for c in kw.get('modules', [])])
    if t == 'ModuleList':
        return ModuleListT([build_torch_module(c)
                            for c in kw.get('modules', [])])
    if t == 'HSigmoid':
        return HSigmoidT(**kw)
    if t == 'ConvModule':
        return ConvModuleT(**kw)
    return getattr(torch.nn, t)(**kw)


# torch 1.13 warns that 'same' with an even kernel copies the input
warnings.filterwarnings('ignore', message="Using padding='same'")


def conv_module(name, ins, training=True, **kw):
    cfg = dict({'type': 'ConvModule', 'in_channels': 4, 'out_channels': 4,
                'kernel_size': 3, 'padding': 1}, **kw)
    return Mod(name, cfg, ins, training=training)


def mod(name, typ, ins, training=True, **cfg):
    return Mod(name, dict(cfg, type=typ), ins, training=training,
               error=name.endswith('_error'))


MODS += [
    # convolutions
    mod('Conv1d', 'Conv1d', [(2, 3, 9)], in_channels=3, out_channels=4,
        kernel_size=3, stride=2, padding=1),
    mod('Conv1d_groups_dil_same', 'Conv1d', [(2, 4, 8)], in_channels=4,
        out_channels=6, kernel_size=3, dilation=2, groups=2,
        padding='same', bias=False),
    mod('Conv2d_valid', 'Conv2d', [(1, 2, 5, 4)], in_channels=2,
        out_channels=2, kernel_size=2, padding='valid'),
    mod('Conv2d_same_even', 'Conv2d', [(1, 2, 6, 5)], in_channels=2,
        out_channels=3, kernel_size=[4, 2], dilation=[1, 3],
        padding='same'),
    mod('Conv3d_same_replicate', 'Conv3d', [(1, 1, 4, 5, 3)],
        in_channels=1, out_channels=2, kernel_size=[2, 3, 2],
        padding='same', padding_mode='replicate'),
    mod('Conv1d_same_stride_error', 'Conv1d', [(1, 2, 6)], in_channels=2,
        out_channels=2, kernel_size=3, stride=2, padding='same'),
    mod('Conv1d_reflect', 'Conv1d', [(1, 2, 7)], in_channels=2,
        out_channels=3, kernel_size=3, padding=2, padding_mode='reflect'),
    mod('Conv3d', 'Conv3d', [(2, 2, 5, 4, 6)], in_channels=2,
        out_channels=3, kernel_size=[3, 2, 3], stride=[1, 2, 2],
        padding=1),
    mod('Conv3d_groups_dil', 'Conv3d', [(1, 4, 5, 5, 5)], in_channels=4,
        out_channels=4, kernel_size=2, dilation=2, groups=4, bias=False),
    mod('ConvTranspose1d', 'ConvTranspose1d', [(2, 3, 5)], in_channels=3,
        out_channels=2, kernel_size=3, stride=2, padding=1,
        output_padding=1),
    mod('ConvTranspose2d', 'ConvTranspose2d', [(2, 3, 4, 5)],
        in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1,
        output_padding=1),
    mod('ConvTranspose2d_groups_dil', 'ConvTranspose2d', [(1, 4, 4, 3)],
        in_channels=4, out_channels=6, kernel_size=[3, 2], stride=[2, 3],
        output_padding=[1, 2], dilation=2, groups=2, bias=False),
    mod('ConvTranspose3d', 'ConvTranspose3d', [(1, 2, 3, 4, 3)],
        in_channels=2, out_channels=4, kernel_size=2, stride=2, padding=[0, 1, 0],
        output_padding=[1, 0, 1], groups=2),
    mod('ConvTranspose2d_error', 'ConvTranspose2d', [(1, 4, 4, 3)],
        in_channels=4, out_channels=2, kernel_size=3, stride=1,
        output_padding=1),
    # normalisation
    mod('BatchNorm1d_train', 'BatchNorm1d', [(5, 3)], num_features=3),
    mod('BatchNorm1d_ncl_eval', 'BatchNorm1d', [(4, 3, 6)], training=False,
        num_features=3),
    mod('BatchNorm1d_no_stats_train', 'BatchNorm1d', [(4, 2, 3)],
        num_features=2, track_running_stats=False),
    mod('BatchNorm3d_no_affine_eval', 'BatchNorm3d', [(1, 2, 2, 2, 2)],
        training=False, num_features=2, affine=False),
    mod('BatchNorm3d_train', 'BatchNorm3d', [(2, 3, 3, 2, 4)],
        num_features=3, momentum=0.2),
    mod('BatchNorm3d_eval', 'BatchNorm3d', [(2, 3, 2, 2, 3)],
        training=False, num_features=3),
    mod('BatchNorm1d_error', 'BatchNorm1d', [(4, 3, 5, 2)], num_features=3),
    mod('BatchNorm1d_one_value_error', 'BatchNorm1d', [(1, 3)],
        num_features=3),
    mod('BatchNorm1d_one_value_eval', 'BatchNorm1d', [(1, 3)],
        training=False, num_features=3),
    mod('BatchNorm1d_momentum_none', 'BatchNorm1d', [(6, 2)],
        num_features=2, momentum=None),
    mod('GroupNorm', 'GroupNorm', [(2, 6, 3, 4)], num_groups=3,
        num_channels=6),
    mod('GroupNorm_no_affine_3d', 'GroupNorm', [(3, 4, 5)], num_groups=2,
        num_channels=4, affine=False, eps=1e-3),
    mod('GroupNorm_error', 'GroupNorm', [(2, 4, 3)], num_groups=3,
        num_channels=6),
    mod('InstanceNorm1d', 'InstanceNorm1d', [(2, 3, 7)], num_features=3),
    mod('InstanceNorm1d_affine_unbatched', 'InstanceNorm1d', [(3, 6)],
        num_features=3, affine=True),
    mod('InstanceNorm2d_affine', 'InstanceNorm2d', [(2, 3, 4, 5)],
        num_features=3, affine=True),
    mod('InstanceNorm2d_stats_train', 'InstanceNorm2d', [(2, 3, 4, 3)],
        num_features=3, track_running_stats=True, momentum=0.3),
    mod('InstanceNorm2d_stats_eval', 'InstanceNorm2d', [(2, 3, 4, 3)],
        training=False, num_features=3, affine=True,
        track_running_stats=True),
    mod('InstanceNorm2d_one_value_error', 'InstanceNorm2d', [(2, 3, 1, 1)],
        num_features=3),
    mod('InstanceNorm1d_channels_error', 'InstanceNorm1d', [(2, 4, 5)],
        num_features=3, affine=True),
    mod('InstanceNorm3d_affine_stats', 'InstanceNorm3d', [(2, 2, 3, 2, 4)],
        num_features=2, affine=True, track_running_stats=True),
    # pooling
    mod('MaxPool2d', 'MaxPool2d', [(2, 3, 7, 6)], kernel_size=3, stride=2,
        padding=1),
    mod('MaxPool2d_ceil_dil', 'MaxPool2d', [(1, 2, 9, 8)],
        kernel_size=[3, 2], stride=2, dilation=2, ceil_mode=True),
    mod('MaxPool3d', 'MaxPool3d', [(1, 2, 5, 6, 4)], kernel_size=2),
    mod('MaxPool3d_ceil_dil', 'MaxPool3d', [(1, 2, 6, 7, 5)],
        kernel_size=2, stride=2, padding=1, dilation=[1, 2, 1],
        ceil_mode=True),
    mod('AvgPool2d', 'AvgPool2d', [(2, 3, 7, 6)], kernel_size=3, stride=2,
        padding=1),
    mod('AvgPool2d_exclude_pad_ceil', 'AvgPool2d', [(1, 2, 8, 7)],
        kernel_size=3, stride=2, padding=1, ceil_mode=True,
        count_include_pad=False),
    mod('AvgPool2d_divisor', 'AvgPool2d', [(1, 2, 6, 6)], kernel_size=2,
        divisor_override=3),
    mod('AvgPool3d', 'AvgPool3d', [(1, 2, 5, 4, 6)], kernel_size=2,
        stride=[1, 2, 2], padding=1, count_include_pad=False),
    mod('AvgPool3d_ceil_divisor', 'AvgPool3d', [(1, 2, 5, 5, 5)],
        kernel_size=2, ceil_mode=True, divisor_override=5),
    mod('AdaptiveAvgPool2d', 'AdaptiveAvgPool2d', [(2, 3, 7, 5)],
        output_size=[3, 2]),
    mod('AdaptiveAvgPool2d_1', 'AdaptiveAvgPool2d', [(2, 3, 4, 5)],
        output_size=1),
    mod('AdaptiveMaxPool2d', 'AdaptiveMaxPool2d', [(2, 3, 7, 5)],
        output_size=[3, 4]),
    mod('AdaptiveMaxPool2d_none', 'AdaptiveMaxPool2d', [(1, 2, 6, 5)],
        output_size=[2, None]),
    # output larger than the input: overlapping windows
    mod('AdaptiveAvgPool2d_up', 'AdaptiveAvgPool2d', [(1, 2, 3, 3)],
        output_size=[5, 4]),
    mod('AdaptiveMaxPool2d_up', 'AdaptiveMaxPool2d', [(1, 2, 3, 2)],
        output_size=[4, 5]),
    mod('AdaptiveAvgPool1d', 'AdaptiveAvgPool1d', [(2, 3, 11)],
        output_size=4),
    mod('AdaptiveAvgPool1d_unbatched_up', 'AdaptiveAvgPool1d', [(3, 5)],
        output_size=8),
    mod('AdaptiveMaxPool1d', 'AdaptiveMaxPool1d', [(2, 3, 11)],
        output_size=[4]),
    mod('AdaptiveMaxPool1d_up', 'AdaptiveMaxPool1d', [(2, 3, 4)],
        output_size=6),
    # mmaction's video heads: global average over (T, H, W)
    mod('AdaptiveAvgPool3d_1', 'AdaptiveAvgPool3d', [(2, 8, 4, 7, 7)],
        output_size=[1, 1, 1]),
    mod('AdaptiveAvgPool3d_none', 'AdaptiveAvgPool3d', [(1, 3, 5, 6, 7)],
        output_size=[None, 3, 4]),
    mod('AdaptiveAvgPool3d_unbatched_up', 'AdaptiveAvgPool3d', [(2, 3, 2, 3)],
        output_size=[4, 3, 5]),
    mod('AdaptiveMaxPool3d', 'AdaptiveMaxPool3d', [(2, 3, 5, 7, 6)],
        output_size=[2, 3, 4]),
    mod('AdaptiveMaxPool3d_none', 'AdaptiveMaxPool3d', [(1, 2, 4, 5, 6)],
        output_size=[2, None, 3]),
    mod('Upsample_nearest', 'Upsample', [(2, 3, 4, 5)], scale_factor=2),
    mod('Upsample_bilinear_ac', 'Upsample', [(1, 2, 4, 5)], size=[7, 6],
        mode='bilinear', align_corners=True),
    mod('Upsample_linear', 'Upsample', [(2, 3, 7)], scale_factor=1.5,
        mode='linear'),
    mod('Upsample_nearest_1d', 'Upsample', [(2, 3, 7)], size=11),
    # (a list scale_factor: torch 1.13's Upsample wants a tuple)
    mod('Upsample_trilinear', 'Upsample', [(1, 2, 3, 4, 5)],
        scale_factor=1.5, mode='trilinear'),
    mod('Upsample_trilinear_ac', 'Upsample', [(1, 2, 3, 4, 5)],
        size=[5, 3, 8], mode='trilinear', align_corners=True),
    mod('Upsample_trilinear_recompute', 'Upsample', [(1, 2, 3, 4, 5)],
        scale_factor=1.7, mode='trilinear', recompute_scale_factor=True),
    mod('Upsample_nearest_3d', 'Upsample', [(1, 2, 3, 4, 5)], size=[4, 6, 7]),
    mod('Upsample_bicubic_ac', 'Upsample', [(1, 2, 4, 5)], scale_factor=2,
        mode='bicubic', align_corners=True),
    mod('Upsample_mode_dims_error', 'Upsample', [(2, 3, 7)], scale_factor=2,
        mode='bilinear'),
    mod('AdaptiveMaxPool3d_size_error', 'AdaptiveMaxPool3d', [(1, 2, 4, 5, 6)],
        output_size=[2, 3]),
    # ceil_mode: a last window that would start in the padding is dropped
    mod('AvgPool2d_ceil_pad_edge', 'AvgPool2d', [(1, 1, 5, 5)],
        kernel_size=2, stride=2, padding=1, ceil_mode=True),
    mod('MaxPool2d_ceil_pad_edge', 'MaxPool2d', [(1, 1, 5, 5)],
        kernel_size=2, stride=2, padding=1, ceil_mode=True),
    # ceil_mode windows that run past the padding: torch divides by the
    # window clipped to the padded input (count_include_pad)
    mod('AvgPool2d_ceil_include_pad', 'AvgPool2d', [(1, 2, 6, 7)],
        kernel_size=3, stride=2, padding=1, ceil_mode=True),
    mod('AvgPool3d_ceil_include_pad', 'AvgPool3d', [(1, 1, 4, 6, 5)],
        kernel_size=[2, 3, 3], stride=2, padding=[0, 1, 1],
        ceil_mode=True),
    mod('AvgPool2d_ceil_divisor_pad', 'AvgPool2d', [(1, 1, 7, 6)],
        kernel_size=3, stride=2, padding=1, ceil_mode=True,
        divisor_override=2),
    mod('MaxPool2d_stride_gt_kernel', 'MaxPool2d', [(1, 2, 9, 8)],
        kernel_size=2, stride=3, padding=1),
    mod('MaxPool3d_pad_ceil', 'MaxPool3d', [(1, 1, 5, 4, 6)],
        kernel_size=3, stride=2, padding=1, ceil_mode=True),
    mod('MaxPool2d_error', 'MaxPool2d', [(1, 1, 5, 5)], kernel_size=2,
        padding=2),
    # embedding: an integer input, only the weight's gradient
    mod('Embedding', 'Embedding', [Idx(3, 4, hi=7)], num_embeddings=7,
        embedding_dim=5),
    mod('Embedding_padding_idx', 'Embedding', [Idx(2, 6, hi=4)],
        num_embeddings=4, embedding_dim=3, padding_idx=1),
    mod('Embedding_error', 'Embedding',
        [In(3, draw=lambda s: torch.tensor([0., 5., 1.]),
            dtype=torch.int64)], num_embeddings=5, embedding_dim=2),
    mod('Embedding_padding_idx_neg', 'Embedding', [Idx(9, hi=5)],
        num_embeddings=5, embedding_dim=2, padding_idx=-1),
    # activations
    # inplace: torch refuses it on a leaf; see the Sequential row below
    mod('ReLU', 'ReLU', [(3, 5)]),
    mod('ReLU6', 'ReLU6', [Wide(4, 6)]),
    mod('LeakyReLU', 'LeakyReLU', [(3, 5)], negative_slope=0.2),
    mod('LeakyReLU_default', 'LeakyReLU', [(2, 3, 4)]),
    mod('PReLU', 'PReLU', [(2, 3, 4)]),
    mod('PReLU_channels', 'PReLU', [(2, 3, 4, 2)], num_parameters=3,
        init=0.1),
    mod('PReLU_error', 'PReLU', [(2, 4, 3)], num_parameters=3),
    mod('ELU', 'ELU', [(3, 5)], alpha=0.7),
    mod('GELU', 'GELU', [Wide(3, 5)]),
    mod('GELU_tanh', 'GELU', [Wide(3, 5)], approximate='tanh'),
    mod('SiLU', 'SiLU', [(3, 5)]),
    mod('Hardswish', 'Hardswish', [Wide(4, 5)]),
    mod('Hardsigmoid', 'Hardsigmoid', [Wide(4, 5)]),
    mod('Mish', 'Mish', [Wide(3, 5)]),
    mod('Softplus', 'Softplus', [Wide(3, 5)], beta=2.0, threshold=5.0),
    mod('Softplus_default', 'Softplus', [Wide(3, 5)]),
    mod('Sigmoid', 'Sigmoid', [Wide(3, 5)]),
    mod('Tanh', 'Tanh', [(3, 5)]),
    # shape and regularisation layers
    mod('Identity', 'Identity', [(2, 3)]),
    mod('Flatten', 'Flatten', [(2, 3, 4, 2)]),
    mod('Flatten_dims', 'Flatten', [(2, 3, 4, 2)], start_dim=0, end_dim=-2),
    mod('Dropout_eval', 'Dropout', [(3, 5)], training=False, p=0.5),
    mod('Dropout_p0', 'Dropout', [(3, 5)], p=0.0),
    mod('DropPath_eval', 'DropPath', [(3, 4, 2)], training=False),
    mod('DropPath_p0', 'DropPath', [(3, 4, 2)], drop_prob=0.0),
    # mm's (mmcv's) aliases, compared with the torch class they stand for
    mod('alias_BN', 'BN', [(2, 3, 3, 2)], num_features=3),
    mod('alias_GN', 'GN', [(2, 4, 3, 2)], num_groups=2, num_channels=4),
    mod('alias_LN', 'LN', [(2, 3, 4)], normalized_shape=4),
    mod('alias_IN', 'IN', [(2, 3, 4, 3)], num_features=3),
    mod('alias_BN1d', 'BN1d', [(4, 3)], num_features=3),
    mod('alias_BN3d', 'BN3d', [(2, 2, 2, 3, 2)], num_features=2),
    mod('alias_IN1d', 'IN1d', [(2, 3, 5)], num_features=3, affine=True),
    mod('alias_IN3d', 'IN3d', [(2, 2, 3, 2, 3)], num_features=2),
    mod('alias_Conv', 'Conv', [(1, 2, 5, 5)], in_channels=2,
        out_channels=3, kernel_size=3),
    mod('alias_deconv', 'deconv', [(1, 2, 3, 4)], in_channels=2,
        out_channels=3, kernel_size=2, stride=2),
    mod('alias_deconv3d', 'deconv3d', [(1, 2, 2, 3, 2)], in_channels=2,
        out_channels=2, kernel_size=3, padding=1),
    mod('alias_Swish', 'Swish', [(3, 5)]),
    mod('alias_HSwish', 'HSwish', [Wide(4, 5)]),
    mod('alias_HSigmoid', 'HSigmoid', [Wide(4, 5)]),
    mod('alias_HSigmoid_args', 'HSigmoid', [Wide(4, 5)], bias=1.0,
        divisor=2.0, min_value=-0.5, max_value=2.0),
    # containers: keys "0.weight", "1.running_mean", ...
    mod('Sequential', 'Sequential', [(2, 3, 6, 5)], modules=[
        {'type': 'Conv2d', 'in_channels': 3, 'out_channels': 4,
         'kernel_size': 3, 'padding': 1},
        {'type': 'BatchNorm2d', 'num_features': 4},
        {'type': 'ReLU', 'inplace': True},
        {'type': 'MaxPool2d', 'kernel_size': 2},
        {'type': 'AdaptiveAvgPool2d', 'output_size': 1},
        {'type': 'Flatten'},
        {'type': 'Linear', 'in_features': 4, 'out_features': 3}]),
    mod('Sequential_nested_eval', 'Sequential', [(2, 6)], training=False,
        modules=[{'type': 'Linear', 'in_features': 6, 'out_features': 4},
                 {'type': 'Sequential', 'modules': [
                     {'type': 'LayerNorm', 'normalized_shape': 4},
                     {'type': 'GELU'}, {'type': 'Dropout'}]},
                 {'type': 'Linear', 'in_features': 4, 'out_features': 2}]),
    mod('ModuleList', 'ModuleList', [(2, 4, 12)], modules=[
        {'type': 'Conv1d', 'in_channels': 4, 'out_channels': 3,
         'kernel_size': 3},
        {'type': 'InstanceNorm1d', 'num_features': 3, 'affine': True},
        {'type': 'PReLU', 'num_parameters': 3}]),
    # unbatched inputs, 1-D and 0-dim edges (torch decides; mm must agree)
    mod('Conv2d_unbatched', 'Conv2d', [(2, 5, 4)], in_channels=2,
        out_channels=3, kernel_size=2),
    mod('Conv1d_unbatched_reflect', 'Conv1d', [(2, 6)], in_channels=2,
        out_channels=1, kernel_size=3, padding=1, padding_mode='reflect'),
    mod('ConvTranspose2d_unbatched', 'ConvTranspose2d', [(2, 3, 3)],
        in_channels=2, out_channels=2, kernel_size=2, stride=2),
    mod('MaxPool2d_unbatched', 'MaxPool2d', [(2, 5, 4)], kernel_size=2),
    mod('AvgPool2d_unbatched', 'AvgPool2d', [(2, 5, 4)], kernel_size=2,
        padding=1),
    mod('AdaptiveAvgPool2d_unbatched', 'AdaptiveAvgPool2d', [(2, 5, 4)],
        output_size=[2, 3]),
    mod('AdaptiveMaxPool2d_unbatched', 'AdaptiveMaxPool2d', [(2, 5, 4)],
        output_size=2),
    mod('MaxPool3d_unbatched', 'MaxPool3d', [(2, 4, 3, 4)], kernel_size=2),
    # 6 values a group: with 2, x_hat is +-1 and the input gradient is 0
    # up to rounding (f32 noise above atol)
    mod('GroupNorm_2d_input', 'GroupNorm', [(3, 12)], num_groups=2,
        num_channels=12),
    mod('Linear_1d', 'Linear', [(4,)], in_features=4, out_features=2),
    mod('PReLU_1d', 'PReLU', [(4,)]),
    mod('PReLU_1d_channels', 'PReLU', [(4,)], num_parameters=4),
    mod('PReLU_0d', 'PReLU', [()]),
    mod('Flatten_1d', 'Flatten', [(5,)], start_dim=0),
    mod('Flatten_error', 'Flatten', [(2, 3, 4)], start_dim=2, end_dim=1),
    mod('Embedding_0d', 'Embedding', [Idx(hi=4)], num_embeddings=4,
        embedding_dim=3),
    mod('Embedding_empty', 'Embedding', [Idx(0, 2, hi=4)],
        num_embeddings=4, embedding_dim=3),
    mod('LayerNorm_error', 'LayerNorm', [(2, 3, 5)], normalized_shape=[3, 4]),
    mod('Softplus_0d', 'Softplus', [()], beta=0.5),
    mod('GELU_empty', 'GELU', [(0, 3)]),
    # mmcv's ConvModule against the same layers written out in torch
    conv_module('ConvModule_BN_noact_stride', [(2, 4, 7, 6)], stride=2,
                norm_cfg={'type': 'BN', 'momentum': 0.2}, act_cfg=None),
    conv_module('ConvModule_GN_noact_bias', [(1, 4, 5, 5)],
                norm_cfg={'type': 'GN', 'num_groups': 2}, act_cfg=None,
                bias=True),
    conv_module('ConvModule_reflect_dil_groups', [(1, 4, 6, 7)],
                out_channels=6, padding=2, dilation=2, groups=2,
                padding_mode='reflect', norm_cfg={'type': 'BN'}),
    conv_module('ConvModule_eval_BN_LeakyReLU', [(2, 4, 5, 6)],
                norm_cfg={'type': 'BN'}, act_cfg={'type': 'LeakyReLU'},
                training=False),
    conv_module('ConvModule_act_before_norm', [(2, 4, 5, 6)],
                norm_cfg={'type': 'GN', 'num_groups': 2},
                order=['conv', 'act', 'norm']),
]
# Every norm (none, BN, GN) x activation (ReLU, LeakyReLU, none) x order
# (conv first; norm first where there is a norm).
for _norm in (None, {'type': 'BN'}, {'type': 'GN', 'num_groups': 2}):
    for _act in ({'type': 'ReLU'}, {'type': 'LeakyReLU',
                                    'negative_slope': 0.1}, None):
        for _order in (('conv', 'norm', 'act'), ('norm', 'conv', 'act')):
            if _norm is None and _order[0] == 'norm':
                continue
            MODS.append(conv_module(
                'ConvModule_%s_%s_%s' % (
                    _norm['type'] if _norm else 'nonorm',
                    _act['type'] if _act else 'noact', _order[0]),
                [(2, 4, 5, 6)], out_channels=6, norm_cfg=_norm,
                act_cfg=_act, order=list(_order)))


def run_module_case(drv, c, dt, dump):
    dtype = DTYPES[dt]
    try:
        m = build_torch_module(c.cfg).to(dtype)
    except (RuntimeError, ValueError, TypeError, AssertionError) as e:
        # torch refuses the config itself: mm must refuse it too
        m, build_error = torch.nn.Module(), str(e).splitlines()[0]
    else:
        build_error = None
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(p.shape) * 0.5)
        for n, b in m.named_buffers():
            if n.endswith('running_var'):
                b.copy_(positive(b.shape))
            elif n.endswith('running_mean'):
                b.copy_(randn(b.shape))
            elif n.endswith('num_batches_tracked'):
                b.fill_(3)
    state = [('state.' + k, v.detach().clone())
             for k, v in m.state_dict().items()]
    m.train(c.training)
    xs = [draw_input(i, dtype) for i in c.ins]
    ngrad = set(c.args.get('no_grad', []))
    tx = [x.clone().requires_grad_(x.is_floating_point() and k not in ngrad)
          for k, x in enumerate(xs)]
    try:
        if build_error:
            raise ValueError(build_error)
        out = c.fwd(m, tx, c.args) if c.fwd else m(*tx)
        torch_error = None
    except (RuntimeError, IndexError, ValueError, TypeError,
            AssertionError) as e:
        torch_error = str(e).splitlines()[0] if str(e) else type(e).__name__
    go = [] if torch_error else [torch.randn(out.shape,
                                             dtype=torch.float64).to(dtype)]
    args = dict(c.args, module=c.cfg, training=c.training)
    tensors = state + [('input.%d' % k, x) for k, x in enumerate(xs)]
    tensors += [('grad_output.%d' % k, g) for k, g in enumerate(go)]
    blob = st_dump(tensors, {'op': 'module', 'args': json.dumps(args)})
    if dump:
        with open(os.path.join(dump, '%s.%s.safetensors' % (c.name, dt)),
                  'wb') as f:
            f.write(blob)
    res, meta = drv.run(blob)
    errors = []
    if torch_error is not None or c.error:
        if torch_error is None:
            errors.append('torch accepted a case marked error')
        elif 'error' not in meta:
            errors.append('mm accepted what torch refuses (%s)' % torch_error)
        return errors, 0.0, meta.get('error', '')
    if 'error' in meta:
        return ['mm failed: %s' % meta['error']], 0.0, ''
    max_err = compare('output', res.get('output.0'), out, errors)
    if out.requires_grad:
        out.backward(go[0])
    for k, x in enumerate(tx):
        if x.grad is not None or 'grad_input.%d' % k in res:
            want = x.grad if x.grad is not None else torch.zeros_like(x)
            max_err = max(max_err, compare('grad of input %d' % k,
                                           res.get('grad_input.%d' % k),
                                           want, errors))
    for n, p in m.named_parameters():
        if p.grad is not None or 'grad.' + n in res:
            want = p.grad if p.grad is not None else torch.zeros_like(p)
            max_err = max(max_err, compare('grad of ' + n,
                                           res.get('grad.' + n), want,
                                           errors))
    for n, b in m.named_buffers():
        max_err = max(max_err, compare('buffer ' + n, res.get('state.' + n),
                                       b, errors))
    return errors, max_err, ''


# ---- running and comparing -----------------------------------------------

DTYPES = {'f32': torch.float32, 'f64': torch.float64, 'i64': torch.int64,
          'bf16': torch.bfloat16, 'f16': torch.float16}
# (rtol, atol); i64: the integer cases are exact; bf16 / f16: 2 ulp, as
# float-then-round results may straddle a rounding boundary
TOL = {'f32': (1e-4, 1e-5), 'f64': (1e-5, 1e-8), 'i64': (0, 0),
       'bf16': (2 ** -6, 1e-5), 'f16': (2 ** -9, 1e-5)}


def compare(what, got, want, errors):
    """Append a message to errors on a mismatch; return the max abs error."""
    if got is None:
        errors.append('%s: missing from mm' % what)
        return 0.0
    if tuple(got.shape) != tuple(want.shape):
        errors.append('%s: shape %s, torch %s' % (what, list(got.shape),
                                                  list(want.shape)))
        return 0.0
    if got.dtype != want.dtype:
        errors.append('%s: dtype %s, torch %s' % (what, got.dtype,
                                                  want.dtype))
        return 0.0
    if got.numel() == 0:
        return 0.0
    # the tolerance of the tensor's own dtype (exp of an i64 case is f32)
    rtol, atol = TOL[{torch.float64: 'f64', torch.float32: 'f32',
                      torch.bfloat16: 'bf16', torch.float16: 'f16'}.get(
        want.dtype, 'i64')]
    g, w = got.double(), want.detach().double()
    # atol scales with the tensor's magnitude: an element that should be 0
    # but sums terms of size |w|max carries rounding noise of that size
    # (the key part of MultiheadAttention's in_proj_bias gradient)
    finite = w[torch.isfinite(w)]
    if finite.numel():
        atol *= max(1.0, float(finite.abs().max()))
    err = (g - w).abs()
    err = torch.where(torch.isnan(g) & torch.isnan(w),
                      torch.zeros_like(err), err)
    max_err = float(err.nan_to_num(float('inf')).max())
    if not torch.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
        bad = int((err > atol + rtol * w.abs()).sum())
        errors.append('%s: %d of %d elements differ (max error %.3g)'
                      % (what, bad, got.numel(), max_err))
    return max_err


def draw_input(spec, dtype):
    v = spec.draw(spec.shape)
    dt = spec.dtype or dtype
    if not dt.is_floating_point and spec.draw in (randn, positive, nonzero):
        # integers away from zero (divisors stay valid): 1..6 in magnitude
        v = torch.where(v >= 0, torch.ceil(v * 2), torch.floor(v * 2))
    return v.to(dt)


def noncontig(x):
    """The driver's non-contiguous layout of the same values (make_noncontig
    in op_driver.c), so torch sees the same strides."""
    if x.dim() >= 2:
        return x.transpose(-1, -2).contiguous().transpose(-1, -2)
    if x.dim() == 1:
        return torch.stack([x, x], 1).select(1, 0)
    return x.clone()


def run_op_case(drv, c, dt, dump):
    dtype = DTYPES[dt]
    xs = [draw_input(i, dtype) for i in c.ins]
    ngrad = set(c.args.get('no_grad', []))
    nc = set(c.args.get('noncontig', []))
    tx = [(noncontig(x) if k in nc else x.clone()).requires_grad_(
        x.is_floating_point() and k not in ngrad) for k, x in enumerate(xs)]
    try:
        out = c.fn(tx, c.args)
        torch_error = None
    except (RuntimeError, IndexError, ValueError, TypeError) as e:
        torch_error = str(e).splitlines()[0]
    if torch_error is None:
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        gos = [torch.randn(o.shape, dtype=torch.float64).to(o.dtype)
               for o in outs]
    else:
        outs, gos = [], []
    tensors = [('input.%d' % k, x) for k, x in enumerate(xs)]
    tensors += [('grad_output.%d' % k, g) for k, g in enumerate(gos)]
    blob = st_dump(tensors, {'op': c.op, 'args': json.dumps(c.args)})
    if dump:
        with open(os.path.join(dump, '%s.%s.safetensors' % (c.name, dt)),
                  'wb') as f:
            f.write(blob)
    res, meta = drv.run(blob)
    errors = []
    if torch_error is not None or c.error:
        if torch_error is None:
            errors.append('torch accepted a case marked error')
        elif 'error' not in meta:
            errors.append('mm accepted what torch refuses (%s)' % torch_error)
        return errors, 0.0, meta.get('error', '')
    if 'error' in meta:
        return ['mm failed: %s' % meta['error']], 0.0, ''
    max_err = 0.0
    for k, o in enumerate(outs):
        max_err = max(max_err, compare('output %d' % k, res.get('output.%d' % k),
                                       o, errors))
    if 'output.%d' % len(outs) in res:
        errors.append('mm gave more outputs than torch (%d)' % len(outs))
    diff = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
    want_grads = [None] * len(tx)
    req = [x for x in tx if x.requires_grad]
    if diff and req:
        gr = torch.autograd.grad([o for o, _ in diff], req,
                                 [g for _, g in diff], allow_unused=True)
        it = iter(gr)
        want_grads = [next(it) if x.requires_grad else None for x in tx]
    for k, x in enumerate(tx):
        got = res.get('grad_input.%d' % k)
        want = want_grads[k]
        if want is None and got is None:
            continue
        if want is None:  # unused input: torch says None, mm zeros
            want = torch.zeros_like(x)
        if got is None:
            got = torch.zeros_like(x)
        max_err = max(max_err, compare('grad of input %d' % k, got, want,
                                       errors))
    return errors, max_err, ''


def run_optim_case(drv, c, dt, dump):
    dtype = DTYPES[dt]
    params = [randn(s).to(dtype) for s in c.shapes]
    # Gradients of varying scale, so amsgrad's maximum and the moments move.
    grads = []
    for s in c.shapes:
        scale = torch.rand((c.steps,) + (1,) * len(s), dtype=torch.float64)
        grads.append((randn((c.steps,) + tuple(s)) * (scale * 3 + 0.1))
                     .to(dtype))
    tp = [p.clone().requires_grad_(True) for p in params]
    opt = c.cls([dict(torch_group(g), params=[tp[i] for i in g['params']])
                 for g in c.groups], foreach=False)
    traj = [torch.empty((c.steps,) + tuple(s), dtype=dtype) for s in c.shapes]
    for step in range(c.steps):
        for (st, g, lr) in c.set_lr:
            if st == step:
                opt.param_groups[g]['lr'] = lr
        for i, p in enumerate(tp):
            p.grad = None if (step, i) in c.skip else grads[i][step].clone()
        opt.step()
        for i, p in enumerate(tp):
            traj[i][step] = p.detach()
    args = {'kind': c.kind, 'steps': c.steps, 'groups': c.groups,
            'set_lr': [list(x) for x in c.set_lr],
            'skip': [list(x) for x in c.skip]}
    tensors = [('param.%d' % i, p) for i, p in enumerate(params)]
    tensors += [('grad.%d' % i, g) for i, g in enumerate(grads)]
    blob = st_dump(tensors, {'op': 'optim', 'args': json.dumps(args)})
    if dump:
        with open(os.path.join(dump, '%s.%s.safetensors' % (c.name, dt)),
                  'wb') as f:
            f.write(blob)
    res, meta = drv.run(blob)
    if 'error' in meta:
        return ['mm failed: %s' % meta['error']], 0.0, ''
    errors, max_err = [], 0.0
    for i in range(len(params)):
        max_err = max(max_err, compare('param %d' % i, res.get('param.%d' % i),
                                       traj[i], errors))
    want = {}
    for i, st in opt.state_dict()['state'].items():
        for key, v in st.items():
            if v is None:
                continue
            if not torch.is_tensor(v):
                v = torch.tensor(float(v), dtype=torch.float32)
            want['state.%d.%s' % (i, key)] = v
    for name, v in want.items():
        max_err = max(max_err, compare(name, res.get(name), v, errors))
    extra = sorted(k for k in res if k.startswith('state.') and k not in want)
    if extra:
        errors.append('mm keeps state torch does not: %s' % ', '.join(extra))
    return errors, max_err, ''


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--driver', required=True, help='the op_driver program')
    ap.add_argument('--seed', type=int, help='reproduce a run')
    ap.add_argument('--only', help='run the cases whose name contains this')
    ap.add_argument('--dump', help='write every case into this directory')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='print the error messages of error cases')
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4),
                                                            'little')
    print('seed %d (reproduce: --seed %d); torch %s'
          % (seed, seed, torch.__version__))
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
    drv = Driver(a.driver)
    n_ok = n_fail = 0
    cases = [(c, run_op_case) for c in OPS] + \
            [(c, run_optim_case) for c in OPTIMS] + \
            [(c, run_module_case) for c in MODS]
    for c, run in cases:
        name = {run_optim_case: 'optim.',
                run_module_case: 'nn.'}.get(run, '') + c.name
        if a.only and a.only not in name:
            continue
        for dt in c.dtypes:
            errors, max_err, msg = run(drv, c, dt, a.dump)
            label = '%-44s %s' % (name, dt)
            if errors:
                n_fail += 1
                print('FAIL %s  %s' % (label, '; '.join(errors)))
            else:
                n_ok += 1
                note = ('error: ' + msg if a.verbose and msg else
                        'refused, as torch' if getattr(c, 'error', False)
                        else 'max error %.2g' % max_err)
                print('ok   %s  %s' % (label, note))
    rc = drv.close()
    if rc != 0:
        n_fail += 1
        print('FAIL op_driver exited with status %d' % rc)
    print('%d ok, %d failed (seed %d)' % (n_ok, n_fail, seed))
    return 1 if n_fail else 0


if __name__ == '__main__':
    sys.exit(main())
