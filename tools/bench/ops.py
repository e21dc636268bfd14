#!/usr/bin/env python3
"""Op speed: mm against PyTorch, side by side in one run, same thread count.

    python3 tools/bench/ops.py [--threads 1,2] [--python PATH ...]
                               [--bench build/tools/bench/ops_bench]
                               [--runs 5] [--min-time 1.0] [--only SUBSTR]
                               [--json FILE]

For each case and thread count: mm's time (build/tools/bench/ops_bench, a
C program), then each PyTorch's time (a child process of every --python
given, default this interpreter, with torch.set_num_threads(threads)), both
the median of the timed calls after two warm-up calls, timed the same way
(at least --runs calls and at least --min-time seconds). Prints one table:
mm ms, torch ms, ratio mm/torch (below 1: mm is faster), GFLOP/s for conv,
matmul and linear, and their share of the machine's matmul peak, measured in
the same run: the best call of mm's own 4096x4096x4096 f32 matmul (oneDNN),
measured before and after each thread count's cases, the higher of the two
(a shared machine's load varies). bf16 rows may pass 100%: the peak is
f32's. A call slower than 3 s (Debian torch's reference-BLAS matmul) gets
one warm-up and one timed call, on both sides. --rounds R measures every
case R times, alternating mm and torch, and keeps each side's fastest
median: it makes a load spike during one side's turn less likely to decide
a ratio. Rows print when a thread count's cases are done.

conv2d_bwd is input grad + weight grad of one conv (no bias), the graph
kept: torch calls y.backward(g, retain_graph=True) with x.grad = w.grad =
None before each call; mm calls mm_backward_with_grad and zero_grad.

Nothing is downloaded: the torch of each --python is used as installed.
No assertion: timings on shared machines are noisy; `uptime` is printed.
"""
import argparse
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ResNet-50 at batch 16, 224x224: (name, N, C, H, W, K, KH, KW, stride, pad)
CONVS = [
    ("conv1 7x7/2 3->64 @224", 16, 3, 224, 224, 64, 7, 7, 2, 3),
    ("l1 1x1 64->64 @56", 16, 64, 56, 56, 64, 1, 1, 1, 0),
    ("l1 3x3 64->64 @56", 16, 64, 56, 56, 64, 3, 3, 1, 1),
    ("l1 1x1 64->256 @56", 16, 64, 56, 56, 256, 1, 1, 1, 0),
    ("l2 1x1 256->128 @56", 16, 256, 56, 56, 128, 1, 1, 1, 0),
    ("l2 3x3/2 128->128 @56", 16, 128, 56, 56, 128, 3, 3, 2, 1),
    ("l2 down 1x1/2 256->512 @56", 16, 256, 56, 56, 512, 1, 1, 2, 0),
    ("l2 3x3 128->128 @28", 16, 128, 28, 28, 128, 3, 3, 1, 1),
    ("l3 3x3 256->256 @14", 16, 256, 14, 14, 256, 3, 3, 1, 1),
    ("l3 1x1 256->1024 @14", 16, 256, 14, 14, 1024, 1, 1, 1, 0),
    ("l4 down 1x1/2 1024->2048 @14", 16, 1024, 14, 14, 2048, 1, 1, 2, 0),
    ("l4 3x3 512->512 @7", 16, 512, 7, 7, 512, 3, 3, 1, 1),
]


def cases():
    """(label, case, args, dtype or None) in table order."""
    out = []
    for dt in ("f32", "bf16"):
        out.append((f"matmul 1024^3 {dt}", "matmul", [1024, 1024, 1024], dt))
        out.append((f"matmul 4096x4096x1024 {dt}", "matmul", [4096, 1024, 4096], dt))
    out.append(("linear 4096x1024 -> 1024", "linear", [4096, 1024, 1024], None))
    for c in CONVS:
        out.append((c[0] + " fwd", "conv2d_fwd", list(c[1:]), None))
    for c in CONVS:
        out.append((c[0] + " bwd", "conv2d_bwd", list(c[1:]), None))
    out.append(("batch_norm train 16x256x56x56", "batch_norm", [16, 256, 56, 56], None))
    out.append(("softmax 4096x4096 dim -1", "softmax", [4096, 4096], None))
    out.append(("add 8Mi", "add", [8 << 20], None))
    out.append(("relu 8Mi", "relu", [8 << 20], None))
    return out


# The torch side runs in a child so that each --python can be any torch. It
# reads [case, args, dtype, threads, runs, min_time] and prints the same JSON
# as ops_bench.
TORCH_CHILD = r'''
import json, statistics, sys, time
import torch
import torch.nn.functional as F
case, a, dtype, threads, runs, min_time = json.loads(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)
dt = {"f32": torch.float32, "bf16": torch.bfloat16, None: torch.float32}[dtype]
flops = 0.0
if case in ("conv2d_fwd", "conv2d_bwd"):
    n, c, h, w, k, kh, kw, s, p = a
    bwd = case == "conv2d_bwd"
    x = torch.randn(n, c, h, w, requires_grad=bwd)
    wt = torch.randn(k, c, kh, kw, requires_grad=bwd)
    ho, wo = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    flops = 2.0 * n * k * ho * wo * c * kh * kw
    if bwd:
        y = F.conv2d(x, wt, None, s, p)
        g = torch.randn_like(y)
        flops *= 2
        def fn():
            x.grad = None
            wt.grad = None
            y.backward(g, retain_graph=True)
    else:
        def fn():
            with torch.no_grad():
                return F.conv2d(x, wt, None, s, p)
elif case in ("matmul", "linear"):
    m, kk, nn = a
    x = torch.randn(m, kk, dtype=dt)
    flops = 2.0 * m * kk * nn
    if case == "linear":
        wt = torch.randn(nn, kk, dtype=dt)
        b = torch.randn(nn, dtype=dt)
        fn = lambda: F.linear(x, wt, b)
    else:
        wt = torch.randn(kk, nn, dtype=dt)
        fn = lambda: torch.matmul(x, wt)
elif case == "batch_norm":
    x = torch.randn(*a)
    rm, rv = torch.zeros(a[1]), torch.ones(a[1])
    wt, b = torch.ones(a[1]), torch.zeros(a[1])
    fn = lambda: F.batch_norm(x, rm, rv, wt, b, True, 0.1, 1e-5)
elif case == "softmax":
    x = torch.randn(*a)
    fn = lambda: torch.softmax(x, -1)
elif case == "add":
    x, y = torch.randn(a[0]), torch.randn(a[0])
    fn = lambda: torch.add(x, y)
elif case == "relu":
    x = torch.randn(a[0])
    fn = lambda: torch.relu(x)
else:
    sys.exit("unknown case " + case)
t0 = time.perf_counter()
fn()
if time.perf_counter() - t0 > 3.0:
    runs, min_time = 1, 0.0   # a slow call: one warm-up, one timed call
else:
    fn()
times, total = [], 0.0
while len(times) < 200 and (len(times) < runs or total < min_time):
    t0 = time.perf_counter()
    r = fn()
    t = time.perf_counter() - t0
    del r
    times.append(t)
    total += t
print(json.dumps({"case": case, "dtype": dtype or "f32",
                  "threads": torch.get_num_threads(), "runs": len(times),
                  "median_ms": statistics.median(times) * 1e3,
                  "min_ms": min(times) * 1e3, "flops": flops,
                  "torch": torch.__version__,
                  "times_ms": [t * 1e3 for t in times]}))
'''

# Whether a torch supports a case: bf16 matmul needs a CPU kernel for it.
TORCH_INFO = r'''
import json, torch
print(json.dumps({"version": torch.__version__,
                  "mkldnn": torch.backends.mkldnn.is_available(),
                  "mkl": torch.backends.mkl.is_available(),
                  "blas": [f for f in torch.__config__.show().replace(",", " ").split()
                           if f.startswith("BLAS_INFO=")][:1]}))
'''


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        return {"error": msg[:100]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_mm(bench, case, args, dtype, threads, opt):
    cmd = [bench, "--threads", str(threads), "--runs", str(opt.runs),
           "--min-time", str(opt.min_time), case] + [str(v) for v in args]
    if dtype and case == "matmul":
        cmd.append(dtype)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return run_json(cmd, env)


def run_torch(python, case, args, dtype, threads, opt):
    arg = json.dumps([case, args, dtype, threads, opt.runs, opt.min_time])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return run_json([python, "-c", TORCH_CHILD, arg], env)


def best(a, b):
    """The faster of two results of one case (an error loses)."""
    if a is None or "median_ms" not in a:
        return b
    if "median_ms" not in b:
        return a
    return b if b["median_ms"] < a["median_ms"] else a


def print_block(block, torches, peak):
    head = f"{'case':38} {'mm ms':>9}"
    for i in range(len(torches)):
        head += f" {'torch' + str(i) + ' ms':>10} {'ratio':>6}"
    head += f" {'mm GF/s':>8}"
    for i in range(len(torches)):
        head += f" {'t' + str(i) + ' GF/s':>8}"
    head += f" {'mm %pk':>7}"
    print(head)
    for r in block:
        mm, tr = r["mm"], r["torch"]
        g = gflops(mm)
        line = f"{r['label']:38} {fmt(mm.get('median_ms'), '9.2f')}"
        for t in tr:
            ratio = (mm["median_ms"] / t["median_ms"]
                     if "median_ms" in t and "median_ms" in mm else None)
            line += f" {fmt(t.get('median_ms'), '10.2f')} {fmt(ratio, '6.2f')}"
        line += f" {fmt(g, '8.1f')}"
        for t in tr:
            line += f" {fmt(gflops(t), '8.1f')}"
        pct = 100 * g / peak if g is not None and peak else None
        line += f" {fmt(pct, '6.0f')}" + ("%" if pct is not None else " ")
        for who, res in [("mm", mm)] + [(f"torch{i}", t) for i, t in enumerate(tr)]:
            if "error" in res:
                line += f"  [{who}: {res['error']}]"
        print(line, flush=True)


def gflops(res):
    if "error" in res or not res.get("flops"):
        return None
    return res["flops"] / (res["median_ms"] * 1e-3) / 1e9


def fmt(v, spec):
    if v is not None:
        return format(v, spec)
    width = spec.split(".")[0]
    return format("-", ">" + width if width else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2",
                    help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--python", action="append",
                    help="a Python with torch (repeatable; default: this one)")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "tools",
                                                    "bench", "ops_bench"))
    ap.add_argument("--runs", type=int, default=5,
                    help="at least this many timed calls (default 5)")
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="and at least this many seconds of them (default 1)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each case this many times, alternating mm "
                         "and torch, and keep each side's fastest (default 1)")
    ap.add_argument("--only", help="run only cases whose label contains this")
    ap.add_argument("--json", help="also write every result to this file")
    opt = ap.parse_args()
    pythons = opt.python or [sys.executable]
    if not os.path.exists(opt.bench):
        print(f"{opt.bench} not found: build first (bash tools/build.sh)")
        return 77

    torches = []
    for py in pythons:
        info = run_json([py, "-c", TORCH_INFO])
        if "error" in info:
            print(f"{py}: no torch ({info['error']})")
            return 77
        torches.append((py, info))
    load = open("/proc/loadavg").read().split()[:3]
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(load)} "
          "(1/5/15 min) at start")
    for i, (py, info) in enumerate(torches):
        print(f"torch[{i}] = {info['version']} from {py} (mkldnn "
              f"{info['mkldnn']}, mkl {info['mkl']}, {' '.join(info['blas'])})")

    results = []
    for threads in [int(t) for t in opt.threads.split(",")]:
        print(f"\n== {threads} thread(s) ==", flush=True)
        peak_before = run_mm(opt.bench, "matmul", [4096] * 3, "f32", threads, opt)
        block = []
        for label, case, args, dtype in cases():
            if opt.only and opt.only not in label:
                continue
            mm, tr = None, [None] * len(torches)
            for _ in range(opt.rounds):  # keep each side's fastest round
                mm = best(mm, run_mm(opt.bench, case, args, dtype, threads, opt))
                for i, (py, _) in enumerate(torches):
                    tr[i] = best(tr[i], run_torch(py, case, args, dtype,
                                                  threads, opt))
            block.append({"label": label, "threads": threads, "mm": mm,
                          "torch": tr})
            print(".", end="", file=sys.stderr, flush=True)
        # the peak: the best single call of mm's 4096^3 f32 matmul, measured
        # before and after the block (the machine's load varies)
        peak_after = run_mm(opt.bench, "matmul", [4096] * 3, "f32", threads, opt)
        peaks = [r["flops"] / (r["min_ms"] * 1e-3) / 1e9
                 for r in (peak_before, peak_after) if "min_ms" in r]
        print(file=sys.stderr)
        peak = max(peaks) if peaks else None
        print_block(block, torches, peak)
        print(f"matmul peak (best call of mm's 4096^3 f32 matmul via oneDNN, "
              f"{threads} thread(s), before/after the cases): "
              + " / ".join(f"{p:.1f}" for p in peaks) + " GFLOP/s")
        for kind in ("conv2d_fwd", "conv2d_bwd"):
            rows = [r for r in block if r["mm"].get("case") == kind]
            for i in range(len(torches)):
                ratios = [r["mm"]["median_ms"] / r["torch"][i]["median_ms"]
                          for r in rows if "median_ms" in r["torch"][i]
                          and "median_ms" in r["mm"]]
                if ratios:
                    gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
                    print(f"{kind} mm/torch{i}: geometric mean {gm:.2f} over "
                          f"{len(ratios)} shapes, range {min(ratios):.2f}-"
                          f"{max(ratios):.2f}")
        results.append({"threads": threads, "peak_gflops": peaks,
                        "cases": block})
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\nload average {' '.join(load)} (1/5/15 min) at end")
    if opt.json:
        with open(opt.json, "w") as f:
            json.dump({"torch": [i for _, i in torches],
                       "pythons": [p for p, _ in torches], "results": results},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
