"""qcompiler vs onnxruntime.quantization.quantize_static, same models, same calibration data.

    python bench/ptq_vs_ort.py [--repeat 3]

For each model and setting (MinMax / Entropy, per-tensor / per-channel) both tools quantize
(qcompiler twice: with its default empirical bias correction, and without it, "qc-no-bc",
which is what onnxruntime does)
the float model (QDQ, uint8 activations, int8 weights with reduce_range, which onnxruntime
recommends on x86 without VNNI), then onnxruntime runs each result with one thread. Printed per
row: output SQNR against the float model (dB), top-1 accuracy (digits only), quantization wall
time (median of --repeat runs, statistics cache off), file size, and the median one-thread
latency of the result (the float model's on its own row).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from qcompiler.quant_api import quantize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))


class Reader(CalibrationDataReader):
    def __init__(self, name, samples):
        self.name, self.samples, self.i = name, samples, 0

    def get_next(self):
        if self.i >= len(self.samples):
            return None
        self.i += 1
        return {self.name: self.samples[self.i - 1]}


def run(path, name, xs):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {name: x})[0].reshape(1, -1) for x in xs])


def latency_us(path, name, x, n=200):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(20):
        sess.run(None, {name: x})
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def sqnr(ref, q):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((q - ref.astype(np.float64)) ** 2), 1e-30))


def models():
    from corpus import good_models, model_path, random_inputs

    digits_x = np.load(ROOT / "tests" / "data" / "digits_test_x.npy")
    digits_y = np.load(ROOT / "tests" / "data" / "digits_test_y.npy")
    calib = np.load(ROOT / "tests" / "data" / "digits_calib_x.npy")
    yield ("digits_cnn", ROOT / "examples/digits/digits_cnn.onnx", "input", [c[None] for c in calib],
           [x[None] for x in digits_x], digits_y)
    for name in ("pt_mobilenetv2_tiny", "pt_resnet_tiny", "pt_mobilenetv3_tiny"):
        e = next(m for m in good_models() if m["name"] == name)
        data = [random_inputs(e, seed=s)["input"] * 0.5 for s in range(96)]
        yield name, model_path(e), "input", data[:64], data[64:], None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'model':<20} {'method':<8} {'weights':<11} {'tool':<10} {'SQNR dB':>8} {'top-1':>7} {'time s':>7} "
          f"{'bytes':>8} {'run us':>8}")
    wins = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, path, inp, calib, evalx, evaly in models():
            ref = run(path, inp, evalx)
            print(f"{name:<20} {'-':<8} {'-':<11} {'float':<10} {'':>8} {'':>7} {'':>7} {path.stat().st_size:>8} "
                  f"{latency_us(path, inp, evalx[0]):>8.1f}")
            for method, ort_method, qc_method in (("MinMax", CalibrationMethod.MinMax, "MAX_MIN"),
                                                  ("Entropy", CalibrationMethod.Entropy, "KL")):
                for per_channel in (False, True):
                    row = {}
                    for tool in ("ort", "qcompiler", "qc-no-bc"):
                        out = tmp / f"{name}_{method}_{per_channel}_{tool}.onnx"
                        times = []
                        for r in range(args.repeat):
                            t0 = time.perf_counter()
                            if tool == "ort":
                                quantize_static(str(path), str(out), Reader(inp, calib), quant_format=QuantFormat.QDQ,
                                                per_channel=per_channel, reduce_range=True,
                                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                                calibrate_method=ort_method)
                            else:
                                quantize(str(path), str(out), calib_data=calib, activation_quant_method=qc_method,
                                         per_channel=per_channel, bias_correction="empirical" if tool == "qcompiler" else "false",
                                         options={"cache_dir": str(tmp / f"cache{tool}{r}{method}{per_channel}")})
                            times.append(time.perf_counter() - t0)
                        got = run(out, inp, evalx)
                        acc = float(np.mean(got.argmax(1) == evaly)) if evaly is not None else float("nan")
                        row[tool] = (sqnr(ref, got), acc, statistics.median(times), out.stat().st_size)
                        s, a, t, b = row[tool]
                        wc = "per-channel" if per_channel else "per-tensor"
                        us = latency_us(out, inp, evalx[0])
                        print(f"{name:<20} {method:<8} {wc:<11} {tool:<10} {s:>8.2f} {a:>7.3f} {t:>7.2f} {b:>8} {us:>8.1f}")
                    wins.append([(row[t][0] >= row["ort"][0], row[t][2] <= row["ort"][2]) for t in ("qcompiler", "qc-no-bc")])
    for k, t in enumerate(("qcompiler", "qc-no-bc")):
        print(f"{t}: SQNR >= ORT in {sum(w[k][0] for w in wins)}/{len(wins)} rows; time <= ORT in "
              f"{sum(w[k][1] for w in wins)}/{len(wins)} rows")


if __name__ == "__main__":
    main()
