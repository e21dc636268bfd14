"""LeNet-5 on Fashion-MNIST in plain PyTorch: mmpretrain's LeNet recipe.

The same model (mmpretrain's LeNet5 + ClsHead with cross-entropy), data
(28x28 images resized to 32x32 bilinearly, normalised with mean 33.46 and
std 78.87), schedule (SGD lr 0.01, momentum 0.9, weight_decay 1e-4, batch
128, shuffled, 5 epochs, validation on the test split after every epoch) as
`mm run train configs/mmcls/lenet/lenet5_fashion-mnist.yaml`, written the
way a PyTorch user would: the whole split in memory, resized once.

    python3 tools/bench/lenet/lenet_torch.py [--data DIR] [--threads N]
        [--epochs 5] [--seed 0]

Prints one JSON line: {"framework", "version", "threads", "epochs",
"top1", "wall_s", "train_s"}; wall_s counts from start (imports included)
to the last validation, as `time mm run train` does.
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def find(root, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(root, name)):
            return os.path.join(root, name)
    raise SystemExit(f"lenet_torch: no {stem}[.gz] in {root}")


class LeNet5(nn.Module):
    """mmpretrain.models.backbones.LeNet5 (num_classes=10)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, stride=1), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5, stride=1), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(16, 120, kernel_size=5, stride=1), nn.Tanh())
        self.classifier = nn.Sequential(
            nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.squeeze())


def load_split(root, prefix):
    x = read_idx(find(root, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(root, f"{prefix}-labels-idx1-ubyte")).long()
    x = x.unsqueeze(1).float()
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255)  # the resize works on u8 images in the recipe
    return (x - 33.46) / 78.87, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get(
        "MM_DATA_ROOT", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "t10k")
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9,
                          weight_decay=1e-4)
    t_train = time.perf_counter()
    top1 = 0.0
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xte), 128):
                pred = model(xte[i:i + 128]).argmax(1)
                correct += (pred == yte[i:i + 128]).sum().item()
        top1 = 100.0 * correct / len(xte)
    end = time.perf_counter()
    print(json.dumps({"framework": "pytorch", "version": torch.__version__,
                      "threads": args.threads, "epochs": args.epochs,
                      "top1": round(top1, 2), "wall_s": round(end - T0, 2),
                      "train_s": round(end - t_train, 2)}))


if __name__ == "__main__":
    main()
