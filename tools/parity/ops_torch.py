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
import os
import struct
import subprocess
import sys

try:
    import torch
except ImportError:
    print('skipped: cannot import torch (apt-get install python3-torch)')
    sys.exit(77)

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

# ---- running and comparing -----------------------------------------------

DTYPES = {'f32': torch.float32, 'f64': torch.float64, 'i64': torch.int64}
# (rtol, atol); i64: the integer cases are exact
TOL = {'f32': (1e-4, 1e-5), 'f64': (1e-5, 1e-8), 'i64': (0, 0)}


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
    rtol, atol = TOL[{torch.float64: 'f64', torch.float32: 'f32'}.get(
        want.dtype, 'i64')]
    g, w = got.double(), want.detach().double()
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
    if not dt.is_floating_point and spec.draw is not small_ints:
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
            [(c, run_optim_case) for c in OPTIMS]
    for c, run in cases:
        name = ('optim.' if run is run_optim_case else '') + c.name
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
