"""torchvision architectures (random init, seeded) through both backends: the sweep that found
the int32-bias, Einsum and residual-plan problems fixed on 2026-12-02.

    python bench/torchvision_c.py [--models mobilenet_v3_large:96,maxvit_t:224,r3d_18:4x32] [--work DIR]

Needs torch and torchvision (not dependencies of qcompiler). Each model is exported to ONNX
(opset 17, one image, the given input size; segmentation models' "out"; a video model's size is
FRAMESxSIZE, input 1x3xFRAMESxSIZExSIZE), quantized by qcompiler
with its defaults on 8 normal-random calibration images, then:

* "ONNX dB": SQNR of the QDQ model qcompiler writes for onnxruntime (backend onnx) against the
  float model, on an unseen random image;
* the C backend (generic target, host gcc -O3 via the generated Makefile): "C dB" beside
  "ORT dB", onnxruntime running the same QDQ model (unoptimized, its reference semantics);
  "C-ORT steps" the largest output difference in output quantization steps, beside
  "ORT opt-unopt", onnxruntime's optimized (int8 kernels) run against its own unoptimized one:
  in deep networks one-step differences at a rounding boundary grow through later layers for
  either engine, so the C program is compared with that spread, and by SQNR;
* ops lowered to int8 and float kernels, and the arena beside the liveness lower bound.

A model that fails prints one line naming the error. Random weights make poor SQNR figures
on some (ViT's zero-initialized head gives a zero output: n/a); they test that every model
compiles and agrees with onnxruntime, not accuracy.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "codegen"))

DEFAULT = ["mobilenet_v3_large:96", "efficientnet_v2_s:96", "regnet_x_400mf:64", "convnext_tiny:64",
           "resnext50_32x4d:64", "googlenet:64", "inception_v3:96", "lraspp_mobilenet_v3_large:128",
           "deeplabv3_mobilenet_v3_large:128", "fcn_resnet50:64", "swin_v2_t:128", "maxvit_t:224"]  # fmt: skip


def export(name: str, size: str, path: Path) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    mod = torchvision.models
    frames, _, side = size.rpartition("x")
    shape = (1, 3, int(side), int(side))
    if hasattr(torchvision.models.video, name):
        mod = torchvision.models.video
        shape = (1, 3, int(frames or 8), int(side), int(side))
    elif hasattr(torchvision.models.segmentation, name):
        mod = torchvision.models.segmentation
    kw = {"weights": None}
    if name in ("inception_v3", "googlenet"):
        kw.update(aux_logits=False, init_weights=True)
    if mod is torchvision.models.segmentation:
        kw.update(weights_backbone=None, num_classes=8)
        if "lraspp" not in name:
            kw["aux_loss"] = False
    net = getattr(mod, name)(**kw).eval()

    class Out(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            y = self.m(x)
            return y["out"] if isinstance(y, dict) else y

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Out(net), torch.randn(*shape), str(path), opset_version=17,
                          input_names=["x"], output_names=["y"], dynamo=False)  # fmt: skip


def sqnr(ref: np.ndarray, x: np.ndarray) -> float | None:
    ref, x = ref.reshape(-1).astype(np.float64), x.reshape(-1).astype(np.float64)
    if not np.any(ref):
        return None
    return float(10 * np.log10((ref**2).sum() / max(((x - ref) ** 2).sum(), 1e-30)))


def run_one(src: Path, work: Path) -> dict:
    import cbuild
    import onnxruntime as ort

    from qcompiler.codegen.c.backend import CBackend
    from qcompiler.codegen.onnx_backend import save_onnx
    from qcompiler.quant_api import quantize

    def sess(path, optimize=True):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        if not optimize:
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    fs = sess(src)
    inp = fs.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    rng = np.random.default_rng(0)
    calib = [{inp.name: rng.standard_normal(shape).astype(np.float32)} for _ in range(8)]
    feeds = {inp.name: np.random.default_rng(7).standard_normal(shape).astype(np.float32)}
    ref = fs.run(None, feeds)[0]
    row: dict = {}
    t = time.perf_counter()
    quantize(str(src), str(work / "q_onnx.onnx"), calib_data=calib, options={"cache_dir": str(work / "cache")})
    row["quantize s"] = time.perf_counter() - t
    row["ONNX dB"] = sqnr(ref, sess(work / "q_onnx.onnx").run(None, feeds)[0])
    r = quantize(str(src), None, calib_data=calib, backend="c", options={"cache_dir": str(work / "cache")})
    qdq = work / "q.onnx"
    save_onnx(r.model.clone(), str(qdq))
    folder = work / "c"
    summary = CBackend().emit(r.model, str(folder), ctx=SimpleNamespace(options={"c_measure_flash": False,
                                                                                 "target": "generic"})).summary
    cbuild.build(folder, "host", None)
    got = cbuild.run(folder, feeds, "host")
    name = fs.get_outputs()[0].name
    g = got[name.replace("/", "_")]
    un, op = sess(qdq, False).run(None, feeds)[0].reshape(-1), sess(qdq).run(None, feeds)[0].reshape(-1)
    p = r.model.graph.outputs[0].producer()
    step = float(p.input(1).const.reshape(-1)[0]) if p is not None and p.is_a("DequantizeLinear") else None
    row.update({"C dB": sqnr(ref, g), "ORT dB": sqnr(ref, un),
                "C-ORT steps": float(np.abs(g - un).max() / step) if step else None,
                "ORT opt-unopt": float(np.abs(op - un).max() / step) if step else None,
                "int8/float ops": f"{summary['int8 ops']}/{summary['float ops']}",
                "arena/LB": summary["arena bytes"] / max(summary["arena lower bound bytes"], 1)})
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT), help="comma-separated name:size (video: name:FRAMESxSIZE)")
    ap.add_argument("--work", help="keep exports and outputs here (default: a temporary folder)")
    args = ap.parse_args(argv)
    specs = args.models.split(",")
    bad = next((m for m in specs if not re.fullmatch(r"\w+:(\d+x)?\d+", m)), None)
    if bad is not None:
        ap.error(f"--models: {bad!r} is not name:size or name:FRAMESxSIZE (e.g. mobilenet_v3_large:96, r3d_18:4x32)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="qc-tv-c-"))
    cols = ["quantize s", "ONNX dB", "C dB", "ORT dB", "C-ORT steps", "ORT opt-unopt", "int8/float ops", "arena/LB"]
    print(f"{'model':34s}" + "".join(f"{c:>15s}" for c in cols))
    for spec in specs:
        name, size = spec.split(":")
        mdir = work / f"{name}_{size}"
        mdir.mkdir(parents=True, exist_ok=True)
        src = mdir / "model.onnx"
        try:
            if not src.exists():
                export(name, size, src)
            row = run_one(src, mdir)
        except Exception as e:  # noqa: BLE001 - one line per failing model
            print(f"{name + '@' + size:34s}FAILED: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            continue
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append("n/a" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
        print(f"{name + '@' + size:34s}" + "".join(f"{c:>15s}" for c in cells), flush=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
