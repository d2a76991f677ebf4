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

A second table (``--methods``; ``--methods-only`` skips the first) compares the accuracy
methods on the digits CNN and the depthwise-heavy MobileNetV2-style digits model
(``tests/models/train_mbv2_digits.py``): per-tensor int8 and W4A8 per-channel, onnxruntime's
best setting (the better of MinMax and Entropy by SQNR) against qcompiler with
cross-layer equalization + bias correction (empirical or analytic) + bias absorption, and with
AdaRound; "leads" means higher SQNR and top-1 at least as high.
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


def ort_quantize(path, out, name, samples, **keys):
    """onnxruntime's quantize_static as the tables run it: QDQ, uint8 activations, int8 weights
    with reduce_range (``keys``: per_channel, calibrate_method)."""
    quantize_static(str(path), str(out), Reader(name, samples), quant_format=QuantFormat.QDQ, reduce_range=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, **keys)  # fmt: skip


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


#: Rows of the methods table: (setting, onnxruntime keys, qcompiler variants (name, keys)).
METHOD_ROWS = [
    ("int8 per-tensor", {"per_channel": False, "weight_type": QuantType.QInt8, "reduce_range": True},
     [("qc-plain", {"per_channel": False, "bias_correction": "false"}),
      ("qc-eq+bc", {"per_channel": False, "equalization": True, "bias_absorption": True, "bias_correction": "empirical"}),
      ("qc-eq+abc", {"per_channel": False, "equalization": True, "bias_absorption": True, "bias_correction": "analytic"})]),
    ("W4A8 per-channel", {"per_channel": True, "weight_type": QuantType.QInt4, "reduce_range": False},
     [("qc-rtn", {"weight_bit_num": 4, "bias_correction": "false"}),
      ("qc-adaround", {"weight_bit_num": 4, "adaround": True, "bias_correction": "empirical"})]),
]


def method_models():
    digits_x = np.load(ROOT / "tests" / "data" / "digits_test_x.npy")
    digits_y = np.load(ROOT / "tests" / "data" / "digits_test_y.npy")
    calib = [c[None] for c in np.load(ROOT / "tests" / "data" / "digits_calib_x.npy")]
    evalx = [x[None] for x in digits_x]
    yield "digits_mbv2", ROOT / "tests/models/onnx/digits_mbv2.onnx", calib, evalx, digits_y
    yield "digits_cnn", ROOT / "examples/digits/digits_cnn.onnx", calib, evalx, digits_y


def methods_table(tmp: Path) -> None:
    print(f"\n{'model':<12} {'setting':<17} {'tool':<12} {'SQNR dB':>8} {'top-1':>7} {'time s':>7}")
    leads = []
    for name, path, calib, evalx, evaly in method_models():
        ref = run(path, "input", evalx)
        print(f"{name:<12} {'float':<17} {'':<12} {'':>8} {np.mean(ref.argmax(1) == evaly):>7.3f}")
        for setting, ort_keys, variants in METHOD_ROWS:
            results = {}
            best_ort = None
            for method in (CalibrationMethod.MinMax, CalibrationMethod.Entropy):
                out = tmp / f"m_{name}_{setting[:4]}_{method.name}.onnx"
                t0 = time.perf_counter()
                quantize_static(str(path), str(out), Reader("input", calib), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, calibrate_method=method, **ort_keys)
                t = time.perf_counter() - t0
                got = run(out, "input", evalx)
                r = (sqnr(ref, got), float(np.mean(got.argmax(1) == evaly)), t)
                if best_ort is None or r[0] > best_ort[0]:
                    best_ort = r
            results["ort-best"] = best_ort
            for tool, keys in variants:
                out = tmp / f"m_{name}_{setting[:4]}_{tool}.onnx"
                t0 = time.perf_counter()
                quantize(str(path), str(out), calib_data=calib, options={"cache_dir": str(tmp / f"mc_{tool}")}, **keys)
                t = time.perf_counter() - t0
                got = run(out, "input", evalx)
                results[tool] = (sqnr(ref, got), float(np.mean(got.argmax(1) == evaly)), t)
            for tool, (s, a, t) in results.items():
                print(f"{name:<12} {setting:<17} {tool:<12} {s:>8.2f} {a:>7.3f} {t:>7.2f}")
            best = variants[-1][0] if setting.startswith("W4") else variants[1][0]
            lead = results[best][0] > best_ort[0] and results[best][1] >= best_ort[1]
            leads.append(lead)
            print(f"{name:<12} {setting:<17} {best} leads onnxruntime: {'yes' if lead else 'NO'}")
    print(f"qcompiler's methods lead onnxruntime's best setting in {sum(leads)}/{len(leads)} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", action="store_true", help="also print the accuracy-methods table")
    ap.add_argument("--methods-only", action="store_true", help="print only the accuracy-methods table")
    args = ap.parse_args()
    if args.methods or args.methods_only:
        with tempfile.TemporaryDirectory() as tmp:
            methods_table(Path(tmp))
        if args.methods_only:
            return
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
                                ort_quantize(path, out, inp, calib, per_channel=per_channel, calibrate_method=ort_method)
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
