"""The models of bench/c_runtime.py: corpus models at their own size, and larger inputs of the
convolutional ones (the committed ONNX file with its input dims rewritten, written to a
temporary folder; no torch needed, nothing committed is regenerated).

``MODELS`` maps a bench name to its spec; ``NATIVE`` are the corpus models as committed (used
by every section), ``LARGE`` the same networks at 96x96 (x86 latency only: 4 MiB of RAM on the
emulated Cortex-M boards is too little for their arenas, and instruction counts per MAC need
no bigger inputs). ``prepare(name, work)`` returns the ONNX path, the calibration samples and
the benchmark input.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))

from corpus import good_models, model_path, random_inputs  # noqa: E402

__all__ = ["MODELS", "NATIVE", "LARGE", "Prepared", "prepare"]


@dataclass(frozen=True)
class Spec:
    source: str  # corpus entry name, or a path relative to the repository root
    shape: tuple[int, ...] | None = None  # new shape of the single input (None: as committed)


NATIVE = ["pt_resnet_tiny", "pt_mobilenetv2_tiny", "pt_mobilenetv3_tiny", "pt_squeezenet_tiny",
          "pt_transformer_block", "digits_cnn", "digits_mbv2"]  # fmt: skip
LARGE = ["pt_resnet_tiny@96", "pt_mobilenetv2_tiny@96", "pt_mobilenetv3_tiny@96", "pt_squeezenet_tiny@96"]
MODELS: dict[str, Spec] = {n: Spec(n) for n in NATIVE}
MODELS["digits_mbv2"] = Spec("tests/models/onnx/digits_mbv2.onnx")
for _n in LARGE:
    MODELS[_n] = Spec(_n.split("@")[0], (1, 3, 96, 96))


@dataclass
class Prepared:
    name: str
    path: Path  # the float ONNX model to quantize, compile and give onnxruntime
    calib: list[dict[str, np.ndarray]]  # calibration samples
    feeds: dict[str, np.ndarray]  # the benchmark input (not a calibration sample)


def _entry(source: str) -> dict:
    if source.endswith(".onnx"):
        return {"name": Path(source).stem, "file": str(ROOT / source)}
    for e in good_models():
        if e["name"] == source:
            return e
    raise KeyError(f"no corpus model named {source!r}")


def _resize(src: Path, dst: Path, shape: tuple[int, ...]) -> None:
    """Rewrite the single graph input's dims to ``shape`` and drop the stale intermediate shapes
    (the models where this is used flatten after a global pooling, so nothing else is fixed)."""
    m = onnx.load(str(src))
    inits = {t.name for t in m.graph.initializer}
    (vi,) = [v for v in m.graph.input if v.name not in inits]
    dims = vi.type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ValueError(f"{src.name}: input rank {len(dims)}, asked for {shape}")
    for d, s in zip(dims, shape):
        d.Clear()
        d.dim_value = s
    del m.graph.value_info[:]
    onnx.save(m, str(dst))


def prepare(name: str, work: Path, n_calib: int = 6) -> Prepared:
    """The model ``name`` of ``MODELS`` ready to benchmark (larger variants written to ``work``)."""
    spec = MODELS[name]
    entry = _entry(spec.source)
    if spec.shape is None:
        return Prepared(name, model_path(entry), [random_inputs(entry, seed=s) for s in range(n_calib)],
                        random_inputs(entry, seed=7))  # fmt: skip
    path = work / f"{name.replace('@', '_')}.onnx"
    _resize(model_path(entry), path, spec.shape)
    (iname,) = random_inputs(entry).keys()
    rng = np.random.default_rng(0)
    samples = [{iname: rng.standard_normal(spec.shape).astype(np.float32)} for _ in range(n_calib + 1)]
    return Prepared(name, path, samples[:-1], samples[-1])
