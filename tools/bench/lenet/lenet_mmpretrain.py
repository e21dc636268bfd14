"""LeNet-5 on Fashion-MNIST with mmpretrain's own runner and recipe.

Runs mmpretrain 1.x's configs/lenet/lenet5_mnist.py (shipped inside the
mmpretrain package) through mmengine's Runner, with the dataset switched to
FashionMNIST on the same idx files: the OpenMMLab way of doing what
`mm run train configs/mmcls/lenet/lenet5_fashion-mnist.yaml` does.
Needs a Python with torch, mmengine, mmcv-lite and mmpretrain (PyPI).

    python tools/bench/lenet/lenet_mmpretrain.py [--data DIR] [--threads N]
        [--epochs 5] [--work-dir D]

mmpretrain's MNIST reads the uncompressed idx files, so .gz files are
unpacked into the work dir first (counted in wall_s, as it is small).
Prints one JSON line like lenet_torch.py.
"""
import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def unpack(src, dst):
    os.makedirs(dst, exist_ok=True)
    for stem in STEMS:
        raw, gz = os.path.join(src, stem), os.path.join(src, stem + ".gz")
        if os.path.exists(raw):
            shutil.copyfile(raw, os.path.join(dst, stem))
        elif os.path.exists(gz):
            with gzip.open(gz, "rb") as f, \
                    open(os.path.join(dst, stem), "wb") as g:
                shutil.copyfileobj(f, g)
        else:
            raise SystemExit(f"lenet_mmpretrain: no {stem}[.gz] in {src}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get(
        "MM_DATA_ROOT", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--work-dir", default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    import mmpretrain
    from mmengine.config import Config
    from mmengine.runner import Runner

    work = args.work_dir or tempfile.mkdtemp(prefix="lenet_mmpretrain_")
    data = os.path.join(work, "data")
    unpack(args.data, data)

    cfg_path = os.path.join(os.path.dirname(mmpretrain.__file__), ".mim",
                            "configs", "lenet", "lenet5_mnist.py")
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = os.path.join(work, "run")
    cfg.train_cfg.max_epochs = args.epochs
    cfg.randomness = dict(seed=0)
    cfg.env_cfg.mp_cfg = dict(mp_start_method="fork", opencv_num_threads=0)
    for split, name in (("train", "train_dataloader"),
                        ("test", "val_dataloader"),
                        ("test", "test_dataloader")):
        ds = cfg[name].dataset
        ds.type = "FashionMNIST"
        ds.data_prefix = data
        ds.split = split
        ds.download = False
    runner = Runner.from_cfg(cfg)
    runner.logger.setLevel(logging.WARNING)
    t_train = time.perf_counter()
    runner.train()
    end = time.perf_counter()
    top1 = runner.message_hub.get_scalar("val/accuracy/top1").current()
    print(json.dumps({"framework": "mmpretrain",
                      "version": mmpretrain.__version__,
                      "threads": args.threads, "epochs": args.epochs,
                      "top1": round(float(top1), 2),
                      "wall_s": round(end - T0, 2),
                      "train_s": round(end - t_train, 2)}))
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
