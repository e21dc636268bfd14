"""Write tests/fixtures/checkpoint/python_written.safetensors with the Python
safetensors package, the interop fixture of tests/io (mm must read what the
reference writer writes, byte for byte as it lays files out: __metadata__
first, tensors sorted by dtype alignment then name, header padded with
spaces).

The package is not a test dependency; the fixture is committed. To rebuild:

    python3 -m venv --system-site-packages /tmp/st   # Debian's torch
    /tmp/st/bin/pip install safetensors
    /tmp/st/bin/python tools/make_checkpoint_fixture.py

The values are simple formulas that tests/io/test_checkpoint.c recomputes.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                   "checkpoint", "python_written.safetensors")


def main():
    tensors = {
        # arange(24) * 0.25 - 1
        "state_dict.conv.weight":
            (torch.arange(24, dtype=torch.float32) * 0.25 - 1).reshape(2, 3, 2, 2),
        "state_dict.conv.bias": torch.tensor([0.1, -0.2], dtype=torch.float64),
        "state_dict.bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "x.f16": torch.tensor([0.5, -1.5, 65504.0], dtype=torch.float16),
        "x.bf16": torch.tensor([[1.0, -2.0], [3.5, 256.0]], dtype=torch.bfloat16),
        "x.i32": torch.tensor([-2**31, -1, 0, 2**31 - 1], dtype=torch.int32),
        "x.u8": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "x.bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    metadata = {"format": "pt",
                "meta": json.dumps({"epoch": 3, "iter": 120,
                                    "experiment_name": "fixture"})}
    save_file(tensors, OUT, metadata=metadata)
    print(OUT, os.path.getsize(OUT), "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
