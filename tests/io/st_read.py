"""An independent safetensors reader (json + struct only, following the
format's specification, not mm's code) that checks the file ckpt_sample
writes: layout, every value, and the metadata. Usage: st_read.py FILE.
Prints one line per problem; exit status 1 on any."""
import json
import struct
import sys

# (name, dtype, shape) in insertion order, as ckpt_sample.c adds them.
EXPECTED = [
    ("state_dict.backbone.conv1.weight", "F32", [6, 1, 5, 5]),
    ("state_dict.backbone.conv1.bias", "F32", [6]),
    ("state_dict.backbone.bn.num_batches_tracked", "I64", []),
    ("state_dict.head.fc.weight", "F64", [3, 7]),
    ("state_dict.head.fc.half", "F16", [5]),
    ("state_dict.head.fc.bhalf", "BF16", [2, 3]),
    ("state_dict.head.index", "I32", [9]),
    ("state_dict.head.mask", "BOOL", [5]),
    ("state_dict.head.lut", "U8", [11]),
    ("state_dict.head.empty", "F32", [0, 4]),
    ("optimizer.state.0.momentum_buffer", "F32", [6, 1, 5, 5]),
    ("ema_state_dict.backbone.conv1.bias", "F32", [6]),
]
SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
        "U8": 1, "BOOL": 1}
FMT = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i",
       "U8": "B", "BOOL": "?"}


def expected_value(dtype, i, k):
    if dtype == "U8":
        return (i * 7 + k) % 256
    if dtype == "BOOL":
        return i % 2 == 0
    if dtype in ("I64", "I32"):
        return (i - 3) * 1000003 + k
    return (i - 3) * 0.5 + k


def decode(dtype, raw):
    if dtype == "BF16":
        halves = struct.unpack("<%dH" % (len(raw) // 2), raw)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                for h in halves]
    n = len(raw) // SIZE[dtype]
    return list(struct.unpack("<%d%s" % (n, FMT[dtype]), raw))


def main(path):
    errors = []
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    if n % 8:
        errors.append("header length %d is not a multiple of 8" % n)
    text = blob[8:8 + n].decode("utf-8")
    if text != text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" "))):
        errors.append("header padding is not spaces")
    header = json.loads(text)
    data = blob[8 + n:]
    meta = header.pop("__metadata__", None)
    names = list(header)
    if names != [e[0] for e in EXPECTED]:
        errors.append("names/order differ: %s" % names)
    spans = []
    for k, (name, dtype, shape) in enumerate(EXPECTED):
        e = header.get(name)
        if e is None:
            continue
        if e["dtype"] != dtype or e["shape"] != shape:
            errors.append("%s: %s %s, want %s %s" %
                          (name, e["dtype"], e["shape"], dtype, shape))
            continue
        b, end = e["data_offsets"]
        numel = 1
        for s in shape:
            numel *= s
        if end - b != numel * SIZE[dtype]:
            errors.append("%s: %d bytes for %d elements" % (name, end - b, numel))
            continue
        spans.append((b, end))
        got = decode(dtype, data[b:end])
        want = [expected_value(dtype, i, k) for i in range(numel)]
        if got != want:
            errors.append("%s: values %s, want %s" % (name, got[:6], want[:6]))
    at = 0
    for b, end in sorted(spans):
        if b != at:
            errors.append("data not tiled at %d (next tensor at %d)" % (at, b))
        at = end
    if at != len(data):
        errors.append("data is %d bytes, tensors cover %d" % (len(data), at))
    if not isinstance(meta, dict) or not all(
            isinstance(v, str) for v in meta.values()):
        errors.append("__metadata__ is not a dict of strings: %r" % (meta,))
    else:
        m = json.loads(meta.get("meta", "null"))
        want = {"epoch": 2, "iter": 3750, "seed": 1234, "mm_version": "0.1.0",
                "experiment_name": "lenet5_fashion-mnist", "lr": 0.01}
        if m != want:
            errors.append("meta %r, want %r" % (m, want))
        if json.loads(meta.get("message_hub", "null")) != {
                "log_scalars": "train/loss"}:
            errors.append("message_hub %r" % meta.get("message_hub"))
    for e in errors:
        print("FAIL " + e)
    print("ok   independent reader: %d tensors, %d bytes of data" %
          (len(names), len(data)) if not errors else
          "%d problems" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
