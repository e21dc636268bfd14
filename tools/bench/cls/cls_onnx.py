"""The onnxruntime side of tools/bench/cls/bench.py: an exported
torchvision model (cls_torch.py --export), timed as cls_bench times mm.

    python cls_onnx.py MODEL.onnx --batch 16 [--size 224] [--iters 10]
        [--threads 2]
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so,
                                providers=['CPUExecutionProvider'])
    x = np.random.default_rng(0).standard_normal(
        (a.batch, 3, a.size, a.size), dtype=np.float32)
    ms = []
    for i in range(a.iters + 2):
        t0 = time.perf_counter()
        sess.run(None, {'input': x})
        if i >= 2:
            ms.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(ms)
    print(json.dumps({'ms': [round(v, 3) for v in ms],
                      'median_ms': round(med, 3),
                      'img_s': round(a.batch * 1e3 / med, 3),
                      'version': ort.__version__}))


if __name__ == '__main__':
    main()
