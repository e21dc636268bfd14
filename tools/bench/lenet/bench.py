"""The main job, side by side: `mm run train` LeNet-5 on Fashion-MNIST
against a plain PyTorch script and mmpretrain's own runner, same recipe,
same data, same thread count, one after the other in one run.

    python3 tools/bench/lenet/bench.py [--mm build/cli/mm]
        [--torch-python /usr/bin/python3 ...] [--mmpretrain-python PY]
        [--threads 2] [--epochs 5] [--data DIR]

--torch-python may repeat (Debian's torch 1.13 and a PyPI torch, say);
--mmpretrain-python names a Python with torch, mmengine, mmcv-lite and
mmpretrain (skipped when not given). Each row is the whole process's wall
time, from start to the last validation, and the top-1 accuracy on the
test split after the last epoch; the ratio column is the other's wall time
over mm's (above 1: mm is faster).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CONFIG = "configs/mmcls/lenet/lenet5_fashion-mnist.yaml"


def run_mm(mm, threads, epochs, data):
    work = tempfile.mkdtemp(prefix="bench_lenet_mm_")
    env = dict(os.environ, MM_NUM_THREADS=str(threads), MM_DATA_ROOT=data)
    cmd = [mm, "run", "train", CONFIG, f"train_cfg.max_epochs={epochs}",
           f"env_cfg.num_threads={threads}", "--work-dir", work]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: mm failed ({p.returncode}):\n{p.stderr[-2000:]}")
    top1 = None
    for line in (p.stdout + p.stderr).splitlines():
        m = re.search(r"Epoch\(val\).*accuracy/top1: ([0-9.]+)", line)
        if m:
            top1 = float(m.group(1))
    shutil.rmtree(work, ignore_errors=True)
    return {"framework": "mm", "version": "", "threads": threads,
            "top1": top1, "wall_s": round(wall, 2)}


def run_py(python, script, threads, epochs, data):
    cmd = [python, os.path.join(HERE, script), "--threads", str(threads),
           "--epochs", str(epochs), "--data", data]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"bench: {script} with {python} failed:\n{p.stderr[-1500:]}",
              file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mm", default=os.path.join(ROOT, "build/cli/mm"))
    ap.add_argument("--torch-python", action="append", default=[])
    ap.add_argument("--mmpretrain-python")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", default=os.environ.get(
        "MM_DATA_ROOT", "/usr/share/datasets/fashion-mnist"))
    args = ap.parse_args()
    pythons = args.torch_python or ["/usr/bin/python3"]

    rows = [run_mm(args.mm, args.threads, args.epochs, args.data)]
    for py in pythons:
        r = run_py(py, "lenet_torch.py", args.threads, args.epochs, args.data)
        if r:
            rows.append(r)
    if args.mmpretrain_python:
        r = run_py(args.mmpretrain_python, "lenet_mmpretrain.py",
                   args.threads, args.epochs, args.data)
        if r:
            rows.append(r)

    mm_wall = rows[0]["wall_s"]
    print(f"LeNet-5, Fashion-MNIST, {args.epochs} epochs, batch 128, "
          f"{args.threads} threads (wall time of the whole run)")
    print(f"{'':24} {'wall s':>8} {'top-1 %':>8} {'vs mm':>7}")
    for r in rows:
        name = f"{r['framework']} {r['version']}".strip()
        top1 = "-" if r["top1"] is None else f"{r['top1']:.2f}"
        print(f"{name:24} {r['wall_s']:8.1f} {top1:>8} "
              f"{r['wall_s'] / mm_wall:6.2f}x")


if __name__ == "__main__":
    main()
