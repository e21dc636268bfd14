#!/usr/bin/env python3
"""Config loading speed: mm against mmengine, side by side in one run.

    tools/.venv/bin/python tools/bench/config_load.py [MM_BINARY] [CONFIG]

Two measurements, each the median of several runs:
  * whole command: `mm config print CONFIG --format json` against a Python
    process doing mmengine's Config.fromfile + json dump (what a user waits
    for at the terminal);
  * load only: mmengine's Config.fromfile called in a loop, against mm's
    whole command minus the time of `mm --version` (process start), an
    upper bound of mm's load and print.
Prints the ratios. No assertion: timings on shared machines are noisy.
"""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MM = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cli", "mm")
CFG = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    ROOT, "configs", "mmcls", "lenet", "lenet5_fashion-mnist_adam-10e.yaml")
RUNS = 15


def median_seconds(cmd):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    try:
        from mmengine.config import Config
    except ImportError:
        print("mmengine is not installed: run tools/bootstrap.sh --test")
        return 77
    # mmengine reads mm's ${...} references as plain strings; the files,
    # the inheritance and the merging are the same work for both.
    mm_cmd = [MM, "config", "print", CFG, "--format", "json"]
    py_cmd = [sys.executable, "-c",
              "import json,sys; from mmengine.config import Config; "
              "json.dumps(Config.fromfile(sys.argv[1]).to_dict())", CFG]
    mm_whole = median_seconds(mm_cmd)
    mm_start = median_seconds([MM, "--version"])
    py_whole = median_seconds(py_cmd)
    t = time.perf_counter()
    for _ in range(RUNS):
        Config.fromfile(CFG)
    py_load = (time.perf_counter() - t) / RUNS
    mm_load = max(mm_whole - mm_start, 1e-6)
    print(f"config: {os.path.relpath(CFG, ROOT)}")
    print(f"whole command  mm {mm_whole * 1e3:8.2f} ms   mmengine {py_whole * 1e3:8.2f} ms"
          f"   ratio {py_whole / mm_whole:7.1f}x")
    print(f"load only      mm {mm_load * 1e3:8.2f} ms   mmengine {py_load * 1e3:8.2f} ms"
          f"   ratio {py_load / mm_load:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
