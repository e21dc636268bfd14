#!/usr/bin/env python3
"""Reference values for mm's dataset wrappers and samplers, from mmengine.

Runs mmengine 0.10.7's real ClassBalancedDataset (repeat factors and
repeat_indices) and DefaultSampler (round_up padding and the per-rank
split, shuffle off: the index order of a shuffled epoch comes from a
different generator in mm, see docs/data.md) and prints one JSON object.
tests/data/test_data.c holds these numbers:

    tools/.venv/bin/python tools/parity/data_mmengine.py

Needs torch and mmengine (tools/.venv after bootstrap.sh --test).
"""
import json
from unittest import mock

from mmengine.dataset import BaseDataset, ClassBalancedDataset, DefaultSampler


class Toy(BaseDataset):
    """Samples whose category ids are given per sample (an int or a list)."""

    def __init__(self, labels, **kwargs):
        self.labels = labels
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(x=i, gt_label=lab) for i, lab in enumerate(self.labels)]

    def get_cat_ids(self, idx):
        lab = self.get_data_info(idx)['gt_label']
        return lab if isinstance(lab, list) else [lab]


def balanced(labels, thr):
    ds = ClassBalancedDataset(Toy(labels), oversample_thr=thr)
    factors = ds._get_repeat_factors(ds.dataset, thr)
    return dict(factors=factors, repeat_indices=ds.repeat_indices)


def sampler(n, world, round_up):
    out = []
    for rank in range(world):
        with mock.patch('mmengine.dataset.sampler.get_dist_info',
                        return_value=(rank, world)):
            s = DefaultSampler(list(range(n)), shuffle=False, seed=0,
                               round_up=round_up)
        out.append(dict(len=len(s), indices=list(iter(s))))
    return out


result = {
    'balanced_single': balanced([0, 0, 0, 0, 0, 0, 1, 1, 2, 0], 0.3),
    'balanced_multi': balanced([[0, 1], [0], [0, 0], [], [2, 0], [0]], 0.5),
    'sampler_10_3_round_up': sampler(10, 3, True),
    'sampler_10_3_no_round_up': sampler(10, 3, False),
    'sampler_2_4_round_up': sampler(2, 4, True),
}
print(json.dumps(result, indent=1))
