#!/usr/bin/env python3
"""Reference values for mm's optim wrapper and parameter schedulers, from
mmengine 0.10.7 itself (and torch.optim.lr_scheduler where torch has the
same rule).

Writes one JSON object (tests/optim/mmengine_expected.json) that
tests/optim/test_optim.c replays:

  schedulers   each case: an optim_wrapper config, a param_scheduler config,
               a run (epochs x epoch_length, validation metrics per epoch),
               and the lr / momentum of every param group at each
               iteration, from mmengine's schedulers stepped the way its
               ParamSchedulerHook steps them (iteration-based after each
               iteration, epoch-based after each epoch, ReduceOnPlateau with
               the metrics after validation). Cases torch also has are run
               through torch.optim.lr_scheduler and must give the same curve
               (the script stops otherwise).
  paramwise    each case: an optim_wrapper config for the model below and
               the param groups mmengine's DefaultOptimWrapperConstructor
               makes (parameter name, lr, weight_decay, momentum).
  wrapper      OptimWrapper runs on a small linear model: clip_grad by norm
               (torch's clip_grad_norm_, norm types 2, 1, inf) and by value,
               and accumulative_counts with a shortened last window: the
               weights after every iteration and the logged grad_norm.

Regenerate (Debian 12's python3-torch plus mmengine in a venv that sees it):

    python3 -m venv --system-site-packages /tmp/oracle
    /tmp/oracle/bin/pip install mmengine==0.10.7
    /tmp/oracle/bin/python tools/parity/schedulers_mmengine.py \
        > tests/optim/mmengine_expected.json
"""
import copy
import json
import math
import sys
import warnings

import torch
from torch import nn

from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

warnings.filterwarnings('ignore')
MMLogger.get_instance('mmengine', log_level='ERROR')
torch.set_default_dtype(torch.float32)

SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
ADAM = dict(type='Adam', lr=0.01, betas=[0.9, 0.999])
# two groups: weight at the base lr, bias at half of it; with more than one
# group mmengine's wrapper adds base_param_settings (the optimizer's
# defaults) as a third group the schedulers change too (logged as base_lr):
# the recorded lists end with it.
TWO_GROUPS = dict(custom_keys={'bias': dict(lr_mult=0.5)})

SCHEDULER_CASES = [
    ('multistep', SGD, dict(type='MultiStepLR', milestones=[2, 4, 4],
                            gamma=0.5), 6, 1, None),
    ('step_iter', SGD, dict(type='StepLR', step_size=3, gamma=0.5,
                            by_epoch=False), 3, 4, None),
    ('linear_warmup_cosine', SGD, [
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
             end=5),
        dict(type='CosineAnnealingLR', T_max=10, eta_min=1e-4,
             by_epoch=False, begin=0, end=10)], 3, 4, None),
    ('linear_warmup_cosine_epoch_converted', SGD, [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=4),
        dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=4,
             convert_to_iter_based=True, eta_min_ratio=0.01)], 4, 3, None),
    ('multistep_epoch_converted', SGD, dict(
        type='MultiStepLR', milestones=[1, 3], by_epoch=True,
        convert_to_iter_based=True), 4, 3, None),
    ('cosine_beyond_tmax', SGD, dict(type='CosineAnnealingLR', T_max=3,
                                     by_epoch=False, end=12), 3, 4, None),
    ('constant', SGD, dict(type='ConstantLR', factor=0.25, end=3), 5, 1,
     None),
    ('exponential_range', SGD, dict(type='ExponentialLR', gamma=0.8,
                                    begin=2, end=5), 7, 1, None),
    ('poly', SGD, dict(type='PolyLR', eta_min=0.001, power=2.0,
                       by_epoch=False, end=9), 2, 5, None),
    ('onecycle', SGD, dict(type='OneCycleLR', eta_max=0.5, total_steps=10,
                           by_epoch=False), 2, 5, None),
    ('onecycle_three_phase_linear', SGD, dict(
        type='OneCycleLR', eta_max=[0.5, 0.2, 0.4], total_steps=12,
        pct_start=0.25, anneal_strategy='linear', three_phase=True,
        by_epoch=False), 3, 4, None),
    ('cosine_restart', SGD, dict(type='CosineRestartLR', periods=[3, 5],
                                 restart_weights=[1, 0.5], eta_min=0.001,
                                 by_epoch=False), 3, 4, None),
    ('reduce_on_plateau', SGD, dict(type='ReduceOnPlateauLR', monitor='acc',
                                    rule='greater', factor=0.5, patience=1,
                                    cooldown=1, min_value=0.01), 8, 1,
     [0.5, 0.6, 0.6, 0.6, 0.61, 0.6, 0.6, 0.6]),
    ('momentum_sgd_chain', SGD, [
        dict(type='LinearMomentum', start_factor=0.5, by_epoch=False,
             end=4),
        dict(type='CosineAnnealingMomentum', T_max=6, eta_min=0.5,
             by_epoch=False, begin=2, end=8)], 2, 5, None),
    ('momentum_adam_step', ADAM, dict(type='StepMomentum', step_size=2,
                                      gamma=0.9, by_epoch=False), 2, 3,
     None),
    ('linear_torch', SGD, dict(type='LinearLR', start_factor=0.25,
                               end_factor=0.75, by_epoch=False, end=5), 2, 3,
     None),
    ('exponential_torch', SGD, dict(type='ExponentialLR', gamma=0.8,
                                    by_epoch=False), 2, 4, None),
    ('cosine_torch', SGD, dict(type='CosineAnnealingLR', T_max=6,
                               eta_min=0.001, by_epoch=False, end=6), 2, 3,
     None),
    ('poly_torch', SGD, dict(type='PolyLR', eta_min=0.0, power=2.0,
                             by_epoch=False, end=9), 2, 5, None),
    ('generic_weight_decay', SGD, dict(type='ExponentialParamScheduler',
                                       param_name='weight_decay', gamma=0.5,
                                       by_epoch=False), 1, 4, None),
]


class Tiny(nn.Module):
    """The model the scheduler cases optimise: one Linear(2, 2)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


def build_wrapper(model, optimizer, paramwise_cfg=None, **kw):
    cfg = dict(optimizer=copy.deepcopy(optimizer), **kw)
    if paramwise_cfg is not None:
        cfg['paramwise_cfg'] = copy.deepcopy(paramwise_cfg)
    return build_optim_wrapper(model, cfg)


def run_schedulers(optimizer, sched_cfg, epochs, epoch_length, metrics):
    model = Tiny()
    ow = build_wrapper(model, optimizer, TWO_GROUPS)
    cfgs = sched_cfg if isinstance(sched_cfg, list) else [sched_cfg]
    scheds = []
    for c in cfgs:  # the Runner's _build_param_scheduler
        c = copy.deepcopy(c)
        c.setdefault('end', epochs if c.get('by_epoch', True)
                     else epochs * epoch_length)
        scheds.append(PARAM_SCHEDULERS.build(
            c, default_args=dict(optimizer=ow, epoch_length=epoch_length)))
    lr, mom, wd = [], [], []
    for e in range(epochs):
        for _ in range(epoch_length):
            lrs = ow.get_lr()
            lr.append(lrs['lr'] + lrs.get('base_lr', []))
            mom.append(ow.get_momentum()['momentum'])
            wd.append([g['weight_decay'] for g in ow.param_groups])
            mom[-1] = mom[-1] + [ow.param_groups[-1].get(
                'momentum', ow.param_groups[-1].get('betas', [0])[0])]
            ow.step()
            for s in scheds:
                if not s.by_epoch:
                    s.step()
        for s in scheds:
            if s.by_epoch:
                s.step()
        if metrics is not None:
            for s in scheds:
                if s.by_epoch and getattr(s, 'need_val_args', False):
                    s.step(dict(acc=metrics[e]))
    return lr, mom, wd


# torch.optim.lr_scheduler equivalents of some cases (lr only). mmengine's
# LinearLR and PolyLR run total_iters = end - begin - 1 steps, so torch's
# total_iters=4 is mmengine's end=5.
def torch_curve(name, n):
    p = [nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2))]
    opt = torch.optim.SGD([dict(params=[p[0]], lr=0.1),
                           dict(params=[p[1]], lr=0.05)], lr=0.1,
                          momentum=0.9)
    sch = torch.optim.lr_scheduler
    if name == 'multistep':
        s = [sch.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.5)]
    elif name == 'step_iter':
        s = [sch.StepLR(opt, step_size=3, gamma=0.5)]
    elif name == 'constant':
        s = [sch.ConstantLR(opt, factor=0.25, total_iters=2)]
    elif name == 'poly':
        s = [sch.PolynomialLR(opt, total_iters=8, power=2.0)]
    elif name == 'linear_torch':
        s = [sch.LinearLR(opt, start_factor=0.25, end_factor=0.75,
                          total_iters=4)]
    elif name == 'exponential_torch':
        s = [sch.ExponentialLR(opt, gamma=0.8)]
    elif name == 'cosine_torch':
        s = [sch.CosineAnnealingLR(opt, T_max=6, eta_min=0.001)]
    elif name == 'poly_torch':
        s = [sch.PolynomialLR(opt, total_iters=8, power=2.0)]
    elif name == 'onecycle':
        s = [sch.OneCycleLR(opt, max_lr=0.5, total_steps=10)]
    else:
        return None
    out = []
    for _ in range(n):
        out.append([g['lr'] for g in opt.param_groups])
        opt.step()
        for x in s:
            x.step()
    return out


def scheduler_cases():
    out = []
    for name, optimizer, sched, epochs, length, metrics in SCHEDULER_CASES:
        lr, mom, wd = run_schedulers(optimizer, sched, epochs, length, metrics)
        ref = torch_curve(name, epochs * length)
        if ref is not None:
            for a, b in zip(ref, lr):
                if any(abs(x - y) > 1e-12 * max(1, abs(x))
                       for x, y in zip(a, b)):
                    if name != 'poly':  # torch's PolynomialLR has no eta_min
                        sys.exit(f'{name}: mmengine {b} != torch {a}')
        out.append(dict(
            name=name,
            optim_wrapper=dict(optimizer=optimizer, paramwise_cfg=TWO_GROUPS),
            param_scheduler=sched, epochs=epochs, epoch_length=length,
            metrics=metrics, lr=lr, momentum=mom, weight_decay=wd,
            torch_checked=ref is not None and name != 'poly'))
    return out


class Net(nn.Module):
    """The paramwise model, built from the same layers in mm's test."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, groups=4)
        self.head = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
        self.frozen = nn.Linear(3, 2)
        self.frozen.weight.requires_grad_(False)


PARAMWISE_CASES = [
    ('all_rules', dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
     dict(bias_lr_mult=2.0, bias_decay_mult=0.0, norm_decay_mult=0.5,
          dwconv_decay_mult=0.3, flat_decay_mult=0.7)),
    ('custom_keys_longest_first',
     dict(type='AdamW', lr=0.001, weight_decay=0.05),
     dict(custom_keys={'head': dict(lr_mult=0.1),
                       'head.0': dict(lr_mult=0.5, decay_mult=0.0),
                       'bias': dict(decay_mult=0.0),
                       'bn': dict(lr_mult=3.0, decay_mult=2.0, eps=1e-6)},
          bias_lr_mult=10.0)),
    ('no_weight_decay', dict(type='SGD', lr=0.2, momentum=0.5),
     dict(bias_lr_mult=0.5, flat_decay_mult=0.0,
          custom_keys={'dw': dict(lr_mult=0.25)})),
    ('none', dict(type='SGD', lr=0.1, weight_decay=1e-4), None),
]


def paramwise_cases():
    out = []
    for name, optimizer, pcfg in PARAMWISE_CASES:
        model = Net()
        names = {id(p): n for n, p in model.named_parameters()}
        ow = build_wrapper(model, optimizer, pcfg)
        groups = []
        for g in ow.optimizer.param_groups:
            groups.append(dict(
                params=[names[id(p)] for p in g['params']], lr=g['lr'],
                weight_decay=g['weight_decay'],
                eps=g.get('eps'), momentum=g.get('momentum')))
        out.append(dict(name=name, optimizer=optimizer, paramwise_cfg=pcfg,
                        groups=groups))
    return out


def linear_model():
    fc = nn.Linear(4, 3)
    with torch.no_grad():
        fc.weight.copy_(torch.arange(12.).reshape(3, 4).sin() * 0.5)
        fc.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return fc


def batches(n):
    return [(torch.arange(8.).reshape(2, 4) + 0.37 * i).cos() * (1 + i)
            for i in range(n)]


def loss_of(fc, x):
    y = fc(x)
    return (y * y).mean() * 3.0


def wrapper_cases():
    out = []
    runs = [
        ('clip_norm_2', dict(clip_grad=dict(max_norm=0.5)), 3, 1),
        ('clip_norm_1', dict(clip_grad=dict(max_norm=0.8, norm_type=1)), 3,
         1),
        ('clip_norm_inf', dict(clip_grad=dict(max_norm=0.3,
                                              norm_type='inf')), 3, 1),
        ('clip_value', dict(clip_grad=dict(type='value', clip_value=0.2)), 3,
         1),
        ('accumulate_3_of_7', dict(accumulative_counts=3), 7, 3),
    ]
    for name, kw, iters, acc in runs:
        fc = linear_model()
        cfg = copy.deepcopy(kw)
        kw = copy.deepcopy(kw)
        if kw.get('clip_grad', {}).get('norm_type') == 'inf':
            kw['clip_grad']['norm_type'] = math.inf
        ow = build_wrapper(fc, dict(type='SGD', lr=0.1, momentum=0.9), **kw)
        ow.initialize_count_status(fc, 0, iters)
        hub = MessageHub.get_current_instance()
        weights, biases, norms = [], [], []
        for x in batches(iters):
            ow.update_params(loss_of(fc, x))
            weights.append(fc.weight.detach().flatten().tolist())
            biases.append(fc.bias.detach().tolist())
            norms.append(hub.get_scalar('train/grad_norm').current()
                         if 'train/grad_norm' in hub.log_scalars else None)
        out.append(dict(name=name, config=cfg, iters=iters,
                        init_weight=linear_model().weight.flatten().tolist(),
                        init_bias=linear_model().bias.tolist(),
                        inputs=[x.flatten().tolist() for x in batches(iters)],
                        weight=weights, bias=biases, grad_norm=norms))
        hub.log_scalars.pop('train/grad_norm', None)
    return out


def main():
    torch.manual_seed(0)
    doc = dict(
        generator='tools/parity/schedulers_mmengine.py',
        mmengine=__import__('mmengine').__version__,
        torch=torch.__version__,
        schedulers=scheduler_cases(),
        paramwise=paramwise_cases(),
        wrapper=wrapper_cases())
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
