#!/usr/bin/python3
"""Writes the seed corpora of the parser fuzz targets (tests/fuzz/corpus/<target>/) from real data:
the first rows of seattle-weather and the WSN series (CSV), two Fashion-MNIST images and labels
(IDX), NumPy arrays of every accepted dtype (NPY), and MQTT readings in every form (JSON values,
features, binary) plus typical bad ones.

Usage: /usr/bin/python3 tests/fuzz/make_parser_seeds.py   (rewrites the seed files; deterministic)
"""
import gzip
import io
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def csv_seeds():
    import vega_datasets  # Debian python3-vega-datasets
    path = os.path.join(os.path.dirname(vega_datasets.__file__), "_data", "seattle-weather.csv")
    lines = open(path).read().splitlines()
    put("csv_parse", "seattle_weather_head.csv", "\n".join(lines[:40]) + "\n")
    wsn = open(os.path.join(ROOT, "data", "suthaharan-wsn", "single_hop.csv")).read().splitlines()
    put("csv_parse", "wsn_head.csv", "\n".join(wsn[:30]) + "\n")
    # Columns named so the target picks a group (g...) and a sequence (s...) column, with a gap.
    rows = ["date,gmote,sreading,humidity,temperature"]
    for i in range(12):
        rows.append(f"2012-01-01 00:{i:02d}:00,{1 + i // 6},{i % 6 + (2 if i == 9 else 0)},45.{i},27.{i}")
    put("csv_parse", "grouped_series.csv", "\n".join(rows) + "\n")
    # A flag column (x...) whose non-zero rows are gaps, as wsn-temperature's event labels are.
    rows = ["date,temperature,xlabel,humidity"]
    for i in range(16):
        rows.append(f"2013-03-{1 + i:02d},{10 + i * 0.5},{1 if i in (5, 6) else 0},{60 - i}")
    put("csv_parse", "flagged_daily.csv", "\n".join(rows) + "\n")
    put("csv_parse", "quotes_crlf_bom.csv", "\ufeffa,b,label\r\n1,\"x,y\",cat\r\n\r\n2,\"say \"\"hi\"\"\",dog\r\n3,,cat\r\n")
    put("csv_parse", "numbers.csv", "x,y\n1e3,-2.5\nnan,inf\n  7 ,0x10\n")


def idx_seeds():
    d = "/usr/share/datasets/fashion-mnist"
    imgs = gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")).read()
    labels = gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).read()
    put("idx_parse", "fmnist_2_images.idx", b"\0\0\x08\x03" + struct.pack(">III", 2, 28, 28) + imgs[16:16 + 2 * 784])
    put("idx_parse", "fmnist_16_labels.idx", b"\0\0\x08\x01" + struct.pack(">I", 16) + labels[8:24])
    put("idx_parse", "f32_2x3.idx", b"\0\0\x0d\x02" + struct.pack(">II", 2, 3) + np.arange(6, dtype=">f4").tobytes())
    put("idx_parse", "i16_3.idx", b"\0\0\x0b\x01" + struct.pack(">I", 3) + np.array([-1, 2, 300], ">i2").tobytes())
    put("idx_parse", "i32_2.idx", b"\0\0\x0c\x01" + struct.pack(">I", 2) + np.array([-7, 1 << 20], ">i4").tobytes())
    put("idx_parse", "f64_1x2.idx", b"\0\0\x0e\x02" + struct.pack(">II", 1, 2) + np.array([0.5, -1e300], ">f8").tobytes())
    put("idx_parse", "i8_empty.idx", b"\0\0\x09\x02" + struct.pack(">II", 4, 0))
    # Regressions: headers promising far more than the bytes (the old reader allocated from them).
    put("idx_parse", "regress_huge_dims.idx", b"\0\0\x0e\x02" + struct.pack(">II", 1 << 17, 1 << 17) + b"\x05")
    put("idx_parse", "regress_dims_overflow.idx", b"\0\0\x08\x03" + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 7))


def npy_seeds():
    arrays = {
        "f4_2x3.npy": np.arange(6, dtype="<f4").reshape(2, 3),
        "f2_4.npy": np.array([1, -2, 0.5, 65504], "<f2"),
        "f8_3.npy": np.array([1e-300, 2.5, -3], "<f8"),
        "i1_5.npy": np.array([-128, 0, 127, 1, 2], "i1"),
        "u1_2x2.npy": np.array([[0, 255], [7, 8]], "u1"),
        "i4_3.npy": np.array([-1, 0, 1 << 30], "<i4"),
        "i8_2.npy": np.array([-(1 << 40), 3], "<i8"),
        "b1_3.npy": np.array([True, False, True]),
        "scalar_f4.npy": np.array(3.5, "<f4"),
        "empty_0x3.npy": np.zeros((0, 3), "<f4"),
    }
    for name, a in arrays.items():
        buf = io.BytesIO()
        np.save(buf, a)
        put("npy_parse", name, buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones((2, 2), "<f4"), version=(2, 0))
    put("npy_parse", "v2_header.npy", buf.getvalue())
    # A real model input as `edgeopt run` reads it: one wsn-temperature window [1,24,2].
    wsn = np.loadtxt(os.path.join(ROOT, "data", "suthaharan-wsn", "single_hop.csv"), delimiter=",", skiprows=1,
                     max_rows=24, usecols=(4, 3), dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, wsn.reshape(1, 24, 2))
    put("npy_parse", "wsn_window.npy", buf.getvalue())


def mqtt_seeds():
    def binary(rid, values):
        return b"F32\0" + struct.pack("<H", len(rid)) + rid.encode() + np.asarray(values, "<f4").tobytes()
    put("mqtt_decode", "values.json", json.dumps({"id": "m1-0042", "ts": 1, "values": [27.95, 45.9]}))
    put("mqtt_decode", "nested.json", json.dumps({"id": 7, "values": [[27.95, 45.9], [27.96, 45.8]]}))
    put("mqtt_decode", "features.json", json.dumps({"id": "m2-1", "features": {"humidity": 45.9, "temperature": 27.9}}))
    put("mqtt_decode", "binary.bin", binary("m3-0001", [27.95, 45.9]))
    put("mqtt_decode", "binary_window.bin", binary("w3-0", np.linspace(-1, 1, 48)))
    put("mqtt_decode", "binary_no_id.bin", binary("", [1.0]))
    put("mqtt_decode", "bad_truncated.json", '{"id": "x", "values": [1, 2')
    put("mqtt_decode", "bad_nan.bin", binary("n", [1.0, float("nan")]))
    put("mqtt_decode", "bad_string.json", '{"values": [1, "2"], "features": {"a": 1}}')


if __name__ == "__main__":
    csv_seeds()
    idx_seeds()
    npy_seeds()
    mqtt_seeds()
