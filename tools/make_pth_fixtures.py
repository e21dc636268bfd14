"""Write the PyTorch .pth fixtures of tests/io (tests/fixtures/checkpoint/pth/).

Each file is what torch.save (or mmengine's save_checkpoint) writes, kept
small (a few KB); tests/io/test_pth.c recomputes every value from the
formulas below. The hostile files are hand-made pickles in torch's zip
layout; this script proves each one is really hostile by unpickling its
data.pkl with Python's own pickle in a scratch directory and checking that
the marker file appears (mm must refuse them without creating it).

Needs torch and mmengine (committed output; not a test dependency):

    /work/venv-bench/bin/python tools/make_pth_fixtures.py   # torch 1.13, mmengine 0.10.7

and, for torch2.pth (torch 2's layout: byteorder, .format_version,
.storage_alignment, .data/serialization_id), a torch 2 without mmengine:

    /work/venv-torch/bin/python tools/make_pth_fixtures.py --torch2
"""
import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "fixtures", "checkpoint", "pth")
MARKER = "mm_pth_pwned"


def floats(dtype):
    # (arange(6) - 2.5) * 0.5: exact in every float dtype
    return ((torch.arange(6, dtype=torch.float64) - 2.5) * 0.5).to(dtype).reshape(2, 3)


def dtypes():
    sd = collections.OrderedDict()
    sd["f32"] = floats(torch.float32)
    sd["f64"] = floats(torch.float64)
    sd["f16"] = floats(torch.float16)
    sd["bf16"] = floats(torch.bfloat16)
    sd["i64"] = torch.arange(6, dtype=torch.int64) * (1 << 40) - 3
    sd["i32"] = torch.arange(6, dtype=torch.int32) * 1000 - 3
    sd["u8"] = torch.arange(6, dtype=torch.uint8) * 40
    sd["bool"] = torch.arange(6) % 2 == 0
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def views():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = collections.OrderedDict()
    sd["base"] = base
    sd["row"] = base[1]                 # offset 6
    sd["col"] = base[:, 2]              # offset 2, stride 6
    sd["t"] = base.t()                  # strides (1, 6)
    sd["step"] = base[::2, 1::2]        # offset 1, strides (12, 2)
    sd["expand"] = base[0:1, :2].expand(3, 2)  # stride 0
    sd["alias"] = base                  # the same tensor twice
    return sd


def nested():
    t = torch.arange(4, dtype=torch.float32)
    return {
        "a": {"b": {"c": t * 2}},
        "list": [t + 1, t + 2],
        "optimizer": {
            "state": {0: {"momentum_buffer": t * 3}},
            "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0],
                              "nesterov": False}],
        },
        "epoch": 7,
        "note": None,
    }


def mmengine_checkpoint():
    """What mmengine's Runner.save_checkpoint writes after a training step
    of a tiny model: meta, state_dict, message_hub (HistoryBuffers with
    numpy arrays, numpy scalars), optimizer, param_schedulers."""
    from mmengine.logging import MessageHub
    from mmengine.optim import MultiStepLR
    from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = MultiStepLR(opt, milestones=[3])
    model(torch.randn(2, 1, 5, 5)).sum().backward()
    opt.step()
    hub = MessageHub.get_instance("mm_fixture")
    hub.update_scalar("train/lr", 0.1)
    hub.update_scalar("train/loss", np.float32(0.5))
    hub.update_info("iter", 2)
    hub.update_info("loss_scale", np.float64(2.5))
    ckpt = {
        "meta": {
            "epoch": 1, "iter": 2, "seed": 0,
            "experiment_name": "fixture_20240101_000000",
            "time": "20240101_000000", "mmengine_version": "0.10.7",
            "cfg": "model = dict(type='Toy')\n",
            "dataset_meta": {"classes": ("cat", "dog")},
            "np_int": np.int64(3),
        },
        "state_dict": weights_to_cpu(model.state_dict()),
        "message_hub": hub.state_dict(),
        "optimizer": opt.state_dict(),
        "param_schedulers": [sched.state_dict()],
    }
    path = os.path.join(OUT, "mmengine.pth")
    save_checkpoint(ckpt, path)
    # what the test compares against
    print("mmengine.pth state_dict:",
          {k: v.flatten()[:3].tolist() for k, v in ckpt["state_dict"].items()})
    return path


def torch_zip(path, pkl, entries=(), byteorder=None, name="archive"):
    """A zip laid out as torch writes it (stored entries)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        if byteorder:
            z.writestr(f"{name}/byteorder", byteorder)
        for key, data in entries:
            z.writestr(f"{name}/data/{key}", data)
        z.writestr(f"{name}/version", "3\n")


def proto(*ops):
    return b"\x80\x02" + b"".join(ops) + b"."


def unicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def hostile():
    cmd = f"touch {MARKER}"
    return {
        # os.system via GLOBAL + REDUCE (posix.system on Linux)
        "evil_system.pth": proto(b"cposix\nsystem\n", unicode(cmd), b"\x85R"),
        # builtins.eval
        "evil_eval.pth": proto(b"cbuiltins\neval\n",
                               unicode(f"__import__('os').system('{cmd}')"),
                               b"\x85R"),
        # INST: os.system called as a "class"
        "evil_inst.pth": b"(" + unicode(cmd) + b"ios\nsystem\n.",
        # OBJ: os.system called as a "class" from the stack
        "evil_obj.pth": proto(b"(", b"cposix\nsystem\n", unicode(cmd), b"o"),
        # NEWOBJ of a class that runs a command: subprocess.Popen
        "evil_newobj.pth": proto(b"csubprocess\nPopen\n", b"(", b"]",
                                 unicode("touch"), b"a", b"]", b"e",
                                 unicode("touch"), b"a",
                                 b"\x85\x81"),
        # getattr on something other than HistoryBuffer
        "evil_getattr.pth": proto(b"c__builtin__\ngetattr\n",
                                  b"ccollections\nOrderedDict\n",
                                  unicode("fromkeys"), b"\x86R"),
    }


def check_hostile(name, pkl):
    """Python's unrestricted pickle must run the command (else the test
    would prove nothing), in a scratch directory."""
    if name in ("evil_newobj.pth", "evil_getattr.pth"):
        return  # refused by name already; they do not create the marker
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-c",
                        "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
                       input=pkl, cwd=d, check=False)
        assert os.path.exists(os.path.join(d, MARKER)), name


def big_endian():
    """dtypes.pth's f32/i64/f16 tensors as a big-endian host writes them
    (torch >= 2.1 adds `byteorder`): same pickle, swapped data."""
    sd = collections.OrderedDict(
        (k, dtypes()[k]) for k in ("f32", "i64", "f16", "bool"))
    buf = io.BytesIO()
    torch.save(sd, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    arch = src.namelist()[0].split("/")[0]
    entries = []
    sizes = {"f32": 4, "i64": 8, "f16": 2, "bool": 1}
    for key, name in enumerate(sd):
        data = src.read(f"{arch}/data/{key}")
        n = sizes[name]
        swapped = b"".join(data[i:i + n][::-1] for i in range(0, len(data), n))
        entries.append((str(key), swapped))
    torch_zip(os.path.join(OUT, "big_endian.pth"), src.read(f"{arch}/data.pkl"),
              entries, byteorder="big", name=arch)


def torch2():
    """dtypes() as torch 2 writes it, f32 as an nn.Parameter
    (_rebuild_parameter)."""
    assert int(torch.__version__.split(".")[0]) >= 2, torch.__version__
    sd = dtypes()
    sd["f32"] = torch.nn.Parameter(sd["f32"])
    torch.save(sd, os.path.join(OUT, "torch2.pth"))


def main():
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["--torch2"]:
        torch2()
        return
    torch.save(dtypes(), os.path.join(OUT, "dtypes.pth"))
    torch.save(views(), os.path.join(OUT, "views.pth"))
    torch.save(nested(), os.path.join(OUT, "nested.pth"))
    torch.save(dtypes(), os.path.join(OUT, "protocol4.pth"), pickle_protocol=4)
    torch.save(views(), os.path.join(OUT, "legacy.pth"),
               _use_new_zipfile_serialization=False)
    script = torch.jit.script(torch.nn.Linear(2, 1))
    torch.jit.save(script, os.path.join(OUT, "torchscript.pth"))
    mmengine_checkpoint()
    big_endian()
    for name, pkl in hostile().items():
        check_hostile(name, pkl)
        torch_zip(os.path.join(OUT, name), pkl)
    # a bare tensor, not a dict
    torch.save(torch.ones(2), os.path.join(OUT, "tensor_only.pth"))
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()
