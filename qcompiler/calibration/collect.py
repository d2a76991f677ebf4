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
from qcompiler.frontend.big_weights import infer_shapes_light, ort_session

__all__ = ["Runner", "collect_statistics", "float_tensors"]

_FLOAT = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def float_tensors(model: onnx.ModelProto) -> list[str]:
    """Names of the float activations of the main graph (inputs and op results), in order."""
    inferred = infer_shapes_light(model, check_type=False, strict_mode=False)
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


def _session(model: onnx.ModelProto, names: Sequence[str], *, optimize: bool = False, quiet: bool = False):
    """A one-thread onnxruntime session with ``names`` as extra outputs.  ``optimize`` turns on
    onnxruntime's graph optimizations (for float models: the requested tensors keep their
    values up to float rounding, and runs take about a quarter less time); a quantized model
    runs unoptimized, as its QDQ semantics say, not through onnxruntime's fused kernels."""
    import onnxruntime as ort

    level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    # The big initializers reach onnxruntime as arrays (qcompiler.frontend.big_weights).
    return ort_session(model, names, graph_optimization_level=level, intra_op_num_threads=1,
                       inter_op_num_threads=1, log_severity_level=4 if quiet else 3)  # fmt: skip


class Runner:
    """Runs a model over samples in onnxruntime, several samples per call when the model
    allows it (a batch dimension of 1 on every data input that the model carries through).

    Batching is checked, not assumed: the first batch's first and last samples are run alone
    and must give the same bytes; a model that mixes samples (a reshape folding the batch, a
    softmax over axis 0), or whose kernels round differently by batch size, runs one sample
    per call, as does any batch onnxruntime rejects.  Outputs are the same either way.
    """

    def __init__(self, model: onnx.ModelProto, names: Sequence[str], data_inputs: Sequence[str], *,
                 optimize: bool = False):  # fmt: skip
        batched = _batchable(model, data_inputs)
        # A batch onnxruntime rejects is expected, not worth its error log.
        self.sess = _session(batched if batched is not None else model, names, optimize=optimize,
                             quiet=batched is not None)  # fmt: skip
        self.batched = batched is not None
        self.checked = False
        self.output_names = [o.name for o in self.sess.get_outputs()]

    def run(self, samples: Sequence[dict[str, np.ndarray]], output_names: Sequence[str] | None = None,
            extra: dict[str, np.ndarray] | None = None) -> list[list[np.ndarray]]:  # fmt: skip
        """Per sample, the outputs (``output_names``, default all)."""
        outs = self.run_stacked(samples, output_names, extra)
        return [[o[i] for o in outs] for i in range(len(samples))]

    def run_stacked(self, samples: Sequence[dict[str, np.ndarray]], output_names: Sequence[str] | None = None,
                    extra: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:  # fmt: skip
        """The outputs of all ``samples`` stacked: ``out[i]`` is sample ``i``'s output."""
        extra = extra or {}
        names = list(output_names) if output_names is not None else None
        n = len(samples)
        single = not (self.batched and n > 1 and all(np.shape(v)[:1] == (1,) for s in samples for v in s.values()))
        outs = None
        if not single:
            feeds = {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}
            try:
                outs = self.sess.run(names, {**feeds, **extra})
            except Exception:  # noqa: BLE001 - onnxruntime rejects the batch: one sample per call
                outs = None
            if outs is not None and not any(o.ndim == 0 or o.shape[0] != n for o in outs) and not self.checked:
                for i in (0, n - 1):
                    alone = self.sess.run(names, {**samples[i], **extra})
                    if not all(a.shape == b[i : i + 1].shape and np.array_equal(a, b[i : i + 1]) for a, b in zip(alone, outs)):
                        outs = None
                        break
                self.checked = outs is not None
            if outs is None or any(o.ndim == 0 or o.shape[0] != n for o in outs):
                self.batched, outs = False, None
        if outs is None:
            runs = [self.sess.run(names, {**s, **extra}) for s in samples]
            return [np.stack([r[k] for r in runs]) for k in range(len(runs[0]))] if runs else []
        return [o.reshape((n, 1) + o.shape[1:]) for o in outs]  # views: sample i is out[i]


def _batchable(model: onnx.ModelProto, data_inputs: Sequence[str]) -> onnx.ModelProto | None:
    """``model`` with a symbolic first dimension on its data inputs and outputs, when every
    data input has a first dimension of 1 (else ``None``)."""
    inputs = {i.name: i for i in model.graph.input}
    if not data_inputs or any(n not in inputs for n in data_inputs):
        return None
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in model.graph.node for a in n.attribute):
        return None  # control flow: subgraph shapes are declared for one sample
    for n in data_inputs:
        dims = inputs[n].type.tensor_type.shape.dim
        if not dims or not (dims[0].dim_value == 1 or dims[0].dim_param):
            return None
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in m.graph.input:
        if vi.name in data_inputs:
            vi.type.tensor_type.shape.dim[0].Clear()
            vi.type.tensor_type.shape.dim[0].dim_param = "qc_batch"
    for vi in m.graph.output:
        if vi.type.tensor_type.HasField("shape"):
            vi.type.tensor_type.ClearField("shape")  # the runner checks what comes back
    del m.graph.value_info[:]
    return m


def collect_statistics(
    model: onnx.ModelProto,
    tensor_names: Sequence[str],
    samples: Iterable[dict[str, np.ndarray]],
    *,
    labels: Sequence[str] | None = None,
    num_bins: int = 8192,
    progress: bool = False,
    histograms: bool = True,
    keep: Mapping[str, int] | None = None,
    kept: dict[str, list[np.ndarray]] | None = None,
    batch: int = 8,
    infinite: set[str] | None = None,
) -> CalibrationStats:
    """Statistics of ``tensor_names`` over ``samples`` (``batch`` samples per onnxruntime run
    where the model allows, see :class:`Runner`).

    NaN in a tensor is a DataError. So is +-Inf, unless ``infinite`` is given: a tensor holding
    infinities (an attention mask filled with -inf) is then added to it and left out of the
    statistics (no finite range describes it).

    ``keep`` (tensor -> n) asks for the values of the first ``n`` samples of more tensors,
    put in ``kept`` (tensor -> list of arrays) from the same runs.
    """
    names = list(dict.fromkeys(tensor_names))
    keep = dict(keep or {})
    data_inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    runner = Runner(model, names + [n for n in keep if n not in names], data_inputs, optimize=True)
    out_names = runner.output_names
    wanted = [out_names.index(n) for n in names]
    keep_idx = [(n, out_names.index(n), k) for n, k in keep.items()]
    if kept is not None:
        kept.update({n: [] for n in keep})
    stats = {n: TensorStats(num_bins, with_hist=histograms) for n in names}
    total = len(samples) if hasattr(samples, "__len__") else None  # type: ignore[arg-type]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="calibrating", unit="sample", file=sys.stderr, leave=False)
    count = 0
    group: list[tuple[str, dict[str, np.ndarray]]] = []

    def run_group() -> None:
        nonlocal count
        if not group:
            return
        n = len(group)
        outs = runner.run_stacked([s for _, s in group])
        for name, k in zip(names, wanted):
            out = outs[k]
            if out.size == 0:
                continue
            if out.dtype not in (np.float32, np.float64):
                out = out.astype(np.float32)
            flat = out.reshape(n, -1)  # out[i] is sample i
            # The range is every method's; NaN or Inf anywhere shows in it.
            los, his = flat.min(axis=1).tolist(), flat.max(axis=1).tolist()
            bad = [i for i, (lo, hi) in enumerate(zip(los, his)) if not (math.isfinite(lo) and math.isfinite(hi))]
            if bad and (infinite is None or any(np.isnan(flat[i]).any() for i in bad)):
                raise DataError(f"{group[bad[0]][0]}: the float model produces NaN or Inf in tensor {name!r}")
            if bad or name in (infinite or ()):
                infinite.add(name)  # type: ignore[union-attr]
                continue
            if histograms:
                stats[name].update_many(flat, list(zip(los, his)))
            else:
                stats[name].add_ranges(los, his, flat.shape[1])
        if kept is not None:
            for name, k, limit in keep_idx:
                for i in range(max(0, min(n, limit - count))):
                    kept[name].append(outs[k][i].copy())  # not a view holding the whole batch
        count += n
        if bar is not None:
            bar.update(n)
        group.clear()

    try:
        for i, sample in enumerate(samples):
            label = labels[i] if labels is not None and i < len(labels) else f"sample #{i}"
            for key, arr in sample.items():
                if np.asarray(arr).dtype.kind == "f" and not np.isfinite(arr).all():
                    raise DataError(f"{label}: input {key!r} contains NaN or Inf values")
            group.append((label, sample))
            if len(group) == batch:
                run_group()
        run_group()
    finally:
        if bar is not None:
            bar.close()
    if count == 0:
        raise DataError("the calibration set is empty")
    return CalibrationStats({n: st for n, st in stats.items() if n not in (infinite or ())}, count)
