#!/usr/bin/env python3
"""Compare the dataset and schedule bases in configs/_base_/ with the
mmpretrain 1.2.0 files they translate: `mm config print --format json`
against mmengine's Config.fromfile(...).to_dict() (tuples read as lists,
integral floats as ints). Prints OK or the differing keys per file; exits 1
on a difference.

    /work/venv-bench/bin/python tools/parity/configs_mmpretrain.py [MMPRETRAIN_CONFIGS]

Run from the source root after building (build/cli/mm).
"""
import json
import os
import subprocess
import sys

from mmengine import Config
if len(sys.argv) > 1:
    base = sys.argv[1].rstrip('/') + '/_base_/'
else:
    import mmpretrain
    base = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim',
                        'configs', '_base_') + '/'
failed = False

def norm(v):
    if isinstance(v,(list,tuple)): return [norm(x) for x in v]
    if isinstance(v,dict): return {k:norm(x) for k,x in v.items()}
    if isinstance(v,float) and v.is_integer(): return int(v)
    return v
for kind,names in [('datasets',['imagenet_bs32','imagenet_bs64','imagenet_bs64_swin_224','imagenet_bs128_mbv3','imagenet_bs32_pil_resize','imagenet_bs64_autoaug','cifar10_bs16','cifar100_bs16','imagenet_bs64_pil_resize','imagenet_bs32_pil_bicubic','imagenet_bs64_pil_resize_autoaug','imagenet_bs64_swin_384','imagenet_bs64_swin_256']),('schedules',['imagenet_bs256','imagenet_bs256_140e','imagenet_bs256_epochstep','imagenet_bs256_coslr','imagenet_bs1024_adamw_swin','imagenet_bs2048','imagenet_bs4096_AdamW','imagenet_bs1024_coslr','cifar10_bs128'])]:
    for n in names:
        ref=norm(Config.fromfile(f'{base}{kind}/{n}.py').to_dict())
        out=subprocess.run(['build/cli/mm','config','print','--format','json',f'configs/_base_/{kind}/{n}.yaml'],capture_output=True,text=True)
        if out.returncode: print(n,'print failed',out.stderr); continue
        got=norm(json.loads(out.stdout))
        diffs=[]
        for k in set(ref)|set(got):
            if ref.get(k)!=got.get(k): diffs.append(k)
        print(n, 'OK' if not diffs else diffs)
        failed |= bool(diffs)
        for k in diffs:
            if k in ('bgr_mean','bgr_std'): continue
            print('   ref', k, json.dumps(ref.get(k))[:300]); print('   got', k, json.dumps(got.get(k))[:300])
sys.exit(1 if failed else 0)
