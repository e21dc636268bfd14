"""The PyTorch side of tools/bench/cls/bench.py: a torchvision model with
random weights, timed as cls_bench times mm (same modes, warm-up and
output). Also exports the model to ONNX for the onnxruntime side.

    python cls_torch.py --model resnet50 --mode infer|train --batch 16
        [--size 224] [--dtype f32|bf16] [--iters 10] [--threads 2]
    python cls_torch.py --model resnet50 --export OUT.onnx [--batch 16]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--mode', default='infer', choices=['infer', 'train'])
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--dtype', default='f32', choices=['f32', 'bf16'])
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--export')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.model)()
    x = torch.randn(a.batch, 3, a.size, a.size)
    if a.export:
        model.eval()
        torch.onnx.export(model, x, a.export, input_names=['input'],
                          output_names=['logits'], opset_version=13)
        return
    y = torch.arange(a.batch) % 10
    bf16 = a.dtype == 'bf16'
    if a.mode == 'train':
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                              weight_decay=1e-4)

        def step():
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16,
                                                 enabled=bf16):
                model(x)
    ms = []
    for i in range(a.iters + 2):
        t0 = time.perf_counter()
        step()
        if i >= 2:
            ms.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(ms)
    print(json.dumps({'ms': [round(v, 3) for v in ms],
                      'median_ms': round(med, 3),
                      'img_s': round(a.batch * 1e3 / med, 3),
                      'version': torch.__version__}))


if __name__ == '__main__':
    main()
