"""Running the float model in onnxruntime over the calibration set, gathering statistics.

Samples are fed one at a time and their activations are folded into the statistics every
few samples and dropped, so memory is bounded by a few samples' activations whatever the
set's size.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import onnx

from qcompiler.calibration.stats import CalibrationStats, TensorStats
from qcompiler.errors import DataError

__all__ = ["collect_statistics", "float_tensors"]

_FLOAT = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def float_tensors(model: onnx.ModelProto) -> list[str]:
    """Names of the float activations of the main graph (inputs and op results), in order."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    types = {vi.name: vi.type.tensor_type.elem_type
             for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}  # noqa: E501
    inits = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    for node in model.graph.node:
        names.extend(o for o in node.output if o)
    seen, out = set(), []
    for n in names:
        if n not in seen and types.get(n) in _FLOAT:
            seen.add(n)
            out.append(n)
    return out


def _session(model: onnx.ModelProto, names: Sequence[str], *, optimize: bool = False):
    """A one-thread onnxruntime session with ``names`` as extra outputs.  ``optimize`` turns on
    onnxruntime's graph optimizations (for float models: the requested tensors keep their
    values up to float rounding, and runs take about a quarter less time); a quantized model
    runs unoptimized, as its QDQ semantics say, not through onnxruntime's fused kernels."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    present = {o.name for o in m.graph.output}
    for name in names:
        if name not in present:
            m.graph.output.append(onnx.ValueInfoProto(name=name))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def collect_statistics(
    model: onnx.ModelProto,
    tensor_names: Sequence[str],
    samples: Iterable[dict[str, np.ndarray]],
    *,
    labels: Sequence[str] | None = None,
    num_bins: int = 2048,
    progress: bool = False,
    histograms: bool = True,
    keep: Mapping[str, int] | None = None,
    kept: dict[str, list[np.ndarray]] | None = None,
) -> CalibrationStats:
    """Statistics of ``tensor_names`` over ``samples`` (one onnxruntime run per sample).

    ``keep`` (tensor -> n) asks for the values of the first ``n`` samples of more tensors,
    put in ``kept`` (tensor -> list of arrays) from the same runs.
    """
    names = list(dict.fromkeys(tensor_names))
    keep = dict(keep or {})
    sess = _session(model, names + [n for n in keep if n not in names], optimize=True)
    out_names = [o.name for o in sess.get_outputs()]
    wanted = [out_names.index(n) for n in names]
    keep_idx = [(n, out_names.index(n), k) for n, k in keep.items()]
    if kept is not None:
        kept.update({n: [] for n in keep})
    stats = {n: TensorStats(num_bins, with_hist=histograms) for n in names}
    total = len(samples) if hasattr(samples, "__len__") else None  # type: ignore[arg-type]
    it = enumerate(samples)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="calibrating", unit="sample", file=sys.stderr, leave=False)
    count = 0
    chunk = 8
    pending: dict[str, list[np.ndarray]] = {n: [] for n in names}
    ranges: dict[str, list[tuple[float, float]]] = {n: [] for n in names}

    def flush() -> None:
        for n in names:
            if pending[n]:
                stats[n].update_many(pending[n], ranges[n])
                pending[n], ranges[n] = [], []

    try:
        for i, sample in it:
            label = labels[i] if labels is not None and i < len(labels) else f"sample #{i}"
            for key, arr in sample.items():
                if np.asarray(arr).dtype.kind == "f" and not np.isfinite(arr).all():
                    raise DataError(f"{label}: input {key!r} contains NaN or Inf values")
            outputs = sess.run(None, sample)
            for n, k in zip(names, wanted):
                out = outputs[k]
                if out.size == 0:
                    continue
                if out.dtype not in (np.float32, np.float64):
                    out = out.astype(np.float32)
                # The range is every method's; NaN or Inf anywhere shows in it.
                lo, hi = float(out.min()), float(out.max())
                if not (math.isfinite(lo) and math.isfinite(hi)):
                    raise DataError(f"{label}: the float model produces NaN or Inf in tensor {n!r}")
                if histograms:
                    pending[n].append(out)
                    ranges[n].append((lo, hi))
                else:
                    stats[n].add_range(lo, hi, out.size)
            if kept is not None:
                for n, k, limit in keep_idx:
                    if count < limit:
                        kept[n].append(outputs[k])
            count += 1
            if count % chunk == 0:  # fold a few samples at a time: fewer, larger numpy calls
                flush()
            if bar is not None:
                bar.update(1)
        flush()
    finally:
        if bar is not None:
            bar.close()
    if count == 0:
        raise DataError("the calibration set is empty")
    return CalibrationStats(stats, count)
