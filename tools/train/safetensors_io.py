"""Reads and writes the safetensors format (8-byte header length, JSON header, raw little-endian data).

Written here because Debian 12 packages no safetensors module; covers what the training tools need:
F32/F16/I64/U8/BOOL tensors, optional string metadata.
"""
import json
import struct

import numpy as np
import torch

_DTYPES = {
    "F32": (torch.float32, np.float32),
    "F16": (torch.float16, np.float16),
    "F64": (torch.float64, np.float64),
    "I64": (torch.int64, np.int64),
    "I32": (torch.int32, np.int32),
    "U8": (torch.uint8, np.uint8),
    "BOOL": (torch.bool, np.bool_),
}
_NAMES = {torch_type: name for name, (torch_type, _) in _DTYPES.items()}


def load(path):
    """Returns {name: torch.Tensor} (copies, so the file can be closed)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, not supported here")
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]][1]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def save(tensors, path, metadata=None):
    """Writes {name: tensor} sorted by name, 8-byte aligned as the reference writer does."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        if tensor.dtype not in _NAMES:
            raise ValueError(f"tensor {name}: dtype {tensor.dtype} not supported")
        raw = tensor.numpy().tobytes()
        header[name] = {"dtype": _NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)
