"""qcompiler vs onnxruntime.quantization.quantize_static on torchvision architectures trained on
scikit-learn's digits (upsampled to 32x32, three channels): deep real networks with trained
weights (BatchNormalization folded by the exporter, depthwise and grouped convolutions,
residual Adds, squeeze-and-excitation gates, SiLU), small enough to train on a CPU in a minute.

    python bench/torchvision_digits.py [--models resnet18,mobilenet_v2,...] [--epochs 10]
                                       [--work DIR] [--calib 32] [--repeat 3]

Needs torch and torchvision (not dependencies of qcompiler: ``pip install torch==2.13.0
torchvision``). Trained models are cached in ``--work`` (default ``bench/.torchvision``), so a
second run only quantizes. Per model: float top-1 on 397 held-out digits; for onnxruntime
(QDQ, per-channel int8 weights with reduce_range, uint8 activations, MinMax) and for qcompiler
(its defaults: MAX_MIN, per-channel, empirical bias correction; and without the correction):
output SQNR against the float model, top-1, quantization wall time (median of --repeat runs,
each with a fresh statistics cache), and the one-thread latency
of the result next to the float model's. ``vit_digits`` (not in the default list) is a small
Vision Transformer (4 layers, width 64, 4x4 patches) trained the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT = ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "regnet_y_400mf", "efficientnet_b0"]


def _torchvision():
    import torch

    # A torchvision wheel built against another torch fails registering its C++ ops' fake
    # kernels at import; the model definitions (pure Python) do not need them.
    register = torch.library.register_fake

    def tolerant(*a, **k):
        def deco(f):
            try:
                return register(*a, **k)(f)
            except Exception:  # noqa: BLE001
                return f

        return deco

    torch.library.register_fake = tolerant
    import torchvision.models as tvm

    torch.library.register_fake = register
    return torch, tvm


def digits32():
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy((d.images / 16.0).astype(np.float32))[:, None]
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = ((x - 0.3) / 0.35).repeat(1, 3, 1, 1)
    y = torch.from_numpy(d.target).long()
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)
    return x[perm[:1400]], y[perm[:1400]], x[perm[1400:]], y[perm[1400:]]


def train(name: str, path: Path, epochs: int) -> None:
    torch, tvm = _torchvision()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    xtr, ytr, xte, _ = digits32()
    if name == "vit_digits":  # a small Vision Transformer (attention, LayerNorm, GELU, Linear on 3-D)
        m = tvm.VisionTransformer(image_size=32, patch_size=4, num_layers=4, num_heads=4, hidden_dim=64,
                                  mlp_dim=128, num_classes=10)  # fmt: skip
    else:
        m = tvm.get_model(name, weights=None, num_classes=10)
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        m.train()
        p = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            idx = p[i : i + 64]
            xb = xtr[idx] + 0.1 * torch.randn_like(xtr[idx])
            loss = torch.nn.functional.cross_entropy(m(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    m.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, xte[:1], str(path), input_names=["input"], output_names=["output"], opset_version=17,
                          dynamo=False)  # fmt: skip


def main() -> None:
    import ptq_vs_ort as P

    from qcompiler.quant_api import quantize

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="quantization runs per tool (the median is printed)")
    ap.add_argument("--work", default=str(ROOT / "bench" / ".torchvision"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    xtr, _, xte, yte = digits32()
    calib = [x[None].numpy() for x in xtr[: args.calib]]
    evalx, evaly = [x[None].numpy() for x in xte], yte.numpy()
    print(f"{'model':<20} {'tool':<10} {'SQNR dB':>8} {'top-1':>7} {'time s':>7} {'run us':>8}")
    for name in args.models.split(","):
        src = work / f"{name}.onnx"
        if not src.exists():
            t0 = time.perf_counter()
            train(name, src, args.epochs)
            print(f"  [{name}: trained in {time.perf_counter() - t0:.0f} s]")
        ref = P.run(src, "input", evalx)
        lat = statistics.median(P.latency_us(src, "input", evalx[0], n=50) for _ in range(3))
        print(f"{name:<20} {'float':<10} {'':>8} {np.mean(ref.argmax(1) == evaly):>7.3f} {'':>7} {lat:>8.0f}")
        for tool in ("ort", "qcompiler", "qc-no-bc"):
            out = work / f"{name}.{tool}.onnx"
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                if tool == "ort":
                    P.ort_quantize(src, out, "input", calib, per_channel=True)
                else:
                    with tempfile.TemporaryDirectory() as cache:  # a fresh statistics cache: no reuse
                        quantize(str(src), str(out), calib_data=calib, options={"cache_dir": cache},
                                 bias_correction="empirical" if tool == "qcompiler" else "false")  # fmt: skip
                times.append(time.perf_counter() - t0)
            t = statistics.median(times)
            got = P.run(out, "input", evalx)
            lat = statistics.median(P.latency_us(out, "input", evalx[0], n=50) for _ in range(3))
            print(f"{name:<20} {tool:<10} {P.sqnr(ref, got):>8.2f} {np.mean(got.argmax(1) == evaly):>7.3f} {t:>7.2f} {lat:>8.0f}")


if __name__ == "__main__":
    main()
