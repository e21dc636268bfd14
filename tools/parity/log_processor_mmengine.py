"""Record mmengine's LogProcessor lines for fixed message-hub contents.

Each case fills a MessageHub with scalars (in a given order) and runtime
info, sets up a stand-in runner (epoch, iter, max_epochs, max_iters, the
loop's dataloader length) and asks LogProcessor for get_log_after_iter or
get_log_after_epoch. The lines and tags go to
tests/runner/log_lines_mmengine.json, which test_runner.c replays through
mm_log_processor_*. Run with mmengine and torch in one interpreter:

    PYTHONPATH=tools/.venv/lib/python3.11/site-packages \\
        /path/to/venv-with-torch/bin/python tools/parity/log_processor_mmengine.py
"""
import json
import os
import sys
from types import SimpleNamespace

import mmengine.runner.log_processor as lp_mod
from mmengine.logging import MessageHub
from mmengine.runner import LogProcessor

# The CPU-only branch: no "memory:" (mm prints its own, tested apart).
lp_mod.is_cuda_available = lambda: False
lp_mod.is_musa_available = lambda: False


class Loop:
    def __init__(self, n):
        self.dataloader = list(range(n))


def make_runner(hub, c):
    train = Loop(c['train_len']) if c.get('has_train', True) else None
    return SimpleNamespace(
        message_hub=hub, epoch=c['epoch'], iter=c['iter'],
        max_epochs=c['max_epochs'], max_iters=c['max_iters'],
        _train_loop=train, train_loop=train,
        val_loop=Loop(c['val_len']), test_loop=Loop(c['val_len']))


CASES = [
    dict(name='train_epoch', mode='train', kind='iter', batch_idx=49,
         epoch=0, iter=49, max_epochs=2, max_iters=938, train_len=469,
         val_len=79, info={'eta': 62.7},
         scalars=[['train/lr', [0.01] * 50],
                  ['train/data_time', [0.001 * (i % 3) for i in range(50)]],
                  ['train/loss', [2.3 - 0.03 * i for i in range(50)]],
                  ['train/time', [0.02 + 0.001 * (i % 5) for i in range(50)]]]),
    dict(name='train_epoch_wide', mode='train', kind='iter', batch_idx=8,
         epoch=11, iter=1000, max_epochs=100, max_iters=100000,
         train_len=1000, val_len=10, info={'eta': 100000.0},
         scalars=[['train/lr', [0.1, 0.05]],
                  ['train/data_time', [0.5, 0.25]],
                  ['train/loss', [1.0, 0.5]],
                  ['train/loss_cls', [0.75, 0.25]],
                  ['train/grad_norm', [3.0, 1.0]],
                  ['train/time', [1.0, 2.0]]]),
    dict(name='train_by_iter', mode='train', kind='iter', batch_idx=9,
         epoch=0, iter=9, max_epochs=1, max_iters=200, train_len=50,
         val_len=10, info={'eta': 3600 * 25 + 61.0}, by_epoch=False,
         scalars=[['train/lr', [0.02] * 10],
                  ['train/data_time', [0.01] * 10],
                  ['train/loss', [float(i) for i in range(10)]],
                  ['train/time', [0.1] * 10]]),
    dict(name='val_iter', mode='val', kind='iter', batch_idx=9, epoch=1,
         iter=938, max_epochs=2, max_iters=938, train_len=469, val_len=79,
         info={'eta': 5.0},
         scalars=[['train/lr', [0.01]], ['val/data_time', [0.002] * 10],
                  ['val/time', [0.01] * 10]]),
    dict(name='val_epoch', mode='val', kind='epoch', batch_idx=79, epoch=1,
         iter=469, max_epochs=2, max_iters=938, train_len=469, val_len=79,
         info={'eta': 0.0},
         scalars=[['val/data_time', [0.001 * (i % 4) for i in range(81)]],
                  ['val/time', [0.01 + 0.0001 * i for i in range(81)]],
                  ['val/accuracy/top1', [85.12]]]),
    dict(name='test_epoch', mode='test', kind='epoch', batch_idx=79, epoch=0,
         iter=0, max_epochs=0, max_iters=0, train_len=1, val_len=79,
         has_train=False, info={'eta': 0.0},
         scalars=[['test/data_time', [0.001] * 79],
                  ['test/time', [0.01] * 79],
                  ['test/accuracy/top1', [91.5]]]),
    dict(name='custom_cfg', mode='train', kind='iter', batch_idx=19,
         epoch=0, iter=19, max_epochs=3, max_iters=60, train_len=20,
         val_len=5, info={'eta': 1.5},
         log_processor=dict(window_size=5, custom_cfg=[
             dict(data_src='loss', log_name='loss_max', method_name='max',
                  window_size='epoch'),
             dict(data_src='loss', method_name='min', window_size=3)]),
         scalars=[['train/lr', [0.1] * 20],
                  ['train/data_time', [0.0] * 20],
                  ['train/loss', [float((7 * i) % 11) for i in range(20)]],
                  ['train/time', [0.25] * 20]]),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), '..', '..', 'tests', 'runner',
        'log_lines_mmengine.json')
    results = []
    for c in CASES:
        hub = MessageHub.get_instance('case_' + c['name'])
        for key, values in c['scalars']:
            for v in values:
                hub.update_scalar(key, v)
        for k, v in c['info'].items():
            hub.update_info(k, v)
        cfg = dict(c.get('log_processor', {}))
        cfg.setdefault('by_epoch', c.get('by_epoch', True))
        proc = LogProcessor(**cfg)
        runner = make_runner(hub, c)
        if c['kind'] == 'iter':
            tag, line = proc.get_log_after_iter(runner, c['batch_idx'],
                                                c['mode'])
        else:
            tag, line = proc.get_log_after_epoch(runner, c['batch_idx'],
                                                 c['mode'])
        case = {k: v for k, v in c.items()}
        case['log_processor'] = cfg
        case['line'] = line
        case['tag'] = {k: float(v) if not isinstance(v, int) else v
                       for k, v in tag.items()}
        results.append(case)
    with open(out, 'w') as f:
        json.dump(results, f, indent=1)
        f.write('\n')
    for r in results:
        print(r['line'])


if __name__ == '__main__':
    main()
