"""Record the order in which mmengine's Runner calls the hook points.

A 2-epoch run of a tiny linear classifier (8 training samples in batches of
4, validation every epoch on 4 samples in batches of 2, mmengine's default
hooks with CheckpointHook(interval=1)), then a test pass, then a 1-epoch
run resumed to 2 epochs by a new runner, with one custom hook that records
every one of Hook.stages it is called at. The sequence is
written as JSON to tests/runner/hook_order_mmengine.json; the runner suite
runs the same setup through `mm` and compares (test_runner.c).

Needs mmengine and torch in one interpreter, e.g.

    PYTHONPATH=tools/.venv/lib/python3.11/site-packages \\
        /path/to/venv-with-torch/bin/python tools/parity/runner_hooks_mmengine.py
"""
import json
import os
import sys
import tempfile

import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

EVENTS = []

# mmengine 0.10.7 checkpoints hold more than tensors; torch >= 2.6 loads
# weights only by default.
_torch_load = torch.load
torch.load = lambda *a, **k: _torch_load(*a, **{**k, 'weights_only': False})


class RecordHook(Hook):
    priority = 'NORMAL'


def _recorder(stage):
    def fn(self, runner, *args, **kwargs):
        EVENTS.append(stage)
    return fn


for _stage in Hook.stages:
    setattr(RecordHook, _stage, _recorder(_stage))


class Toy(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n
        self.metainfo = dict(classes=['a', 'b'])

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return dict(inputs=torch.full((4, ), float(i)), label=i % 2)


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, inputs, label, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        y = torch.as_tensor(label)
        out = self.fc(x)
        if mode == 'loss':
            return dict(loss=torch.nn.functional.cross_entropy(out, y))
        return [dict(pred=o.argmax(), gt=t) for o, t in zip(out, y)]


class Acc(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(int(s['pred'] == s['gt']) for s in data_samples)

    def compute_metrics(self, results):
        return dict(accuracy=100.0 * sum(results) / max(len(results), 1))


def loader(n, bs):
    return dict(dataset=Toy(n), batch_size=bs, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='default_collate'))


def make_runner(work_dir, max_epochs, **kwargs):
    return Runner(
        model=Net(), work_dir=work_dir,
        train_dataloader=loader(8, 4), val_dataloader=loader(4, 2),
        test_dataloader=loader(4, 2),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(), test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        val_evaluator=dict(type=Acc), test_evaluator=dict(type=Acc),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        custom_hooks=[RecordHook()], default_scope='mmengine', **kwargs)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), '..', '..', 'tests', 'runner',
        'hook_order_mmengine.json')
    with tempfile.TemporaryDirectory() as work_dir:
        runner = make_runner(work_dir, 2)
        hooks_info = runner.get_hooks_info()
        runner.train()
        train_events = list(EVENTS)
        EVENTS.clear()
        runner.test()
        test_events = list(EVENTS)
    # One epoch, then a new runner resumes to two.
    with tempfile.TemporaryDirectory() as work_dir:
        make_runner(work_dir, 1, experiment_name='first').train()
        EVENTS.clear()
        make_runner(work_dir, 2, resume=True,
                    experiment_name='second').train()
        resume_events = list(EVENTS)
    with open(out, 'w') as f:
        json.dump(dict(train=train_events, test=test_events,
                       resume=resume_events, hooks_info=hooks_info), f,
                  indent=1)
        f.write('\n')
    print(f'{len(train_events)} + {len(test_events)} + '
          f'{len(resume_events)} events -> {out}')


if __name__ == '__main__':
    main()
