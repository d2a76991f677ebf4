"""``collect-calibration``: statistics of every float activation over the calibration set.

The model as it is (FakeQuant is the identity; fused ops are lowered) runs in onnxruntime,
one sample at a time, for the tensors the FakeQuants mark.  Statistics are cached on disk
under a key of the float model, the samples and the histogram size, and every calibration adds
its tensors to the entry: a second compile with other quantization settings (method, bits,
symmetric, skip nodes) reuses them without running the model again.  The result goes to
``ctx.state["calibration"]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from qcompiler.bias_correction import MAX_SAMPLES, float_outputs_to_keep
from qcompiler.calibration.collect import collect_statistics
from qcompiler.calibration.observers import get_observer
from qcompiler.calibration.stats import CalibrationStats, cache_key
from qcompiler.data import as_calibration_set, input_specs
from qcompiler.errors import DataError
from qcompiler.ir import Model
from qcompiler.pass_base import Pass, PassContext

__all__ = ["CollectCalibrationPass", "default_cache_dir"]


def default_cache_dir() -> Path:
    env = os.environ.get("QCOMPILER_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qcompiler" / "calibration"


@dataclass
class CollectOptions:
    num_bins: int = field(default=8192, metadata={"help": "histogram bins per tensor"})
    cache: bool = field(default=True, metadata={"help": "reuse statistics cached on disk"})
    cache_dir: str = field(default="", metadata={"help": "cache folder (default ~/.cache/qcompiler)"})


def _keep_float(model: Model, names: set[str], ctx: PassContext) -> None:
    """Drop the activation FakeQuants of tensors that hold +-Inf (nn.MultiheadAttention's
    key_padding_mask, masked_fill(-inf)): no finite range describes them, so they stay float, as
    a skipped node's tensors do; the ops around them still quantize their other tensors."""
    for op in [op for op in model.graph if op.op_type == "FakeQuant" and op.attr("role") == "activation"
               and op.input(0).name in names]:  # fmt: skip
        op.output.replace_all_uses_with(op.input(0))
        model.graph.remove(op)
    for name in sorted(names):
        ctx.warn(f"tensor {name!r} holds infinite values (an attention mask of -inf?): it stays float")


class CollectCalibrationPass(Pass):
    name = "collect-calibration"
    description = "Run the float model over the calibration set and gather per-tensor statistics."
    Options = CollectOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        from qcompiler.codegen.onnx_backend import ir_to_proto

        if not any(op.op_type == "FakeQuant" and op.attr("role") == "activation" for op in model.graph):
            return False  # nothing to calibrate (e.g. an already quantized model)
        specs = input_specs(model, label=str(ctx.options.get("source") or "model"))
        data = ctx.calib_data
        if data is None and ctx.config is not None:
            data = as_calibration_set(None, specs, ctx.config)
        if data is None:
            raise DataError("collect-calibration needs calibration data: set calibrate_path in the "
                            "config or pass --calib-data DIR")  # fmt: skip
        data = as_calibration_set(data, specs, ctx.config)
        ctx.calib_data = data
        num_bins = self.options.num_bins
        if ctx.config is not None and ("full_quant_param", "num_bins") in ctx.config.given:
            num_bins = int(ctx.config.get("full_quant_param", "num_bins"))
        proto = ir_to_proto(model)
        ctx.state["float_model"] = proto
        needed = list(dict.fromkeys(op.input(0).name for op in model.graph
                                    if op.op_type == "FakeQuant" and op.attr("role") == "activation"
                                    and "range" not in op.input(0).meta))  # fmt: skip
        key = cache_key(proto.SerializeToString(deterministic=True), data.digests, {"num_bins": num_bins})
        cache_dir = Path(self.options.cache_dir or ctx.options.get("cache_dir") or default_cache_dir())
        path = cache_dir / f"{key}.stats"
        cached = None
        if self.options.cache and path.is_file():
            try:
                cached = CalibrationStats.load(path)
            except (OSError, ValueError):
                cached = None  # a damaged cache entry is recomputed
        methods = {op.attr("method", "MAX_MIN") for op in model.graph if op.op_type == "FakeQuant"}
        histograms = any(getattr(get_observer(m, ctx.registry), "needs_histogram", True) for m in methods)
        histograms = histograms or bool(ctx.config is not None and ctx.config.get("common_quant_param",
                                                                                  "debug_info_save_path"))
        # Min/max methods skip the histograms (the costly part); a cache entry without them
        # serves min/max methods only.
        missing = [n for n in needed if cached is None or n not in cached
                   or (histograms and not cached[n].with_hist)]  # fmt: skip
        ctx.state["calibration_cached"] = not missing
        if not missing:
            ctx.state["calibration"] = cached if cached is not None else CalibrationStats()
            return False
        # Only the tensors this compile quantizes are run; they join what the cache holds, so
        # a later compile with other settings (method, bits, skip nodes) finds them there.
        # The empirical bias correction compares layer outputs of the float and the quantized
        # model on the first samples: the float ones come from these runs.
        keep = {}
        if ctx.config is not None and ctx.config.bias_correction == "empirical":
            keep = float_outputs_to_keep(model, len(data) if hasattr(data, "__len__") else MAX_SAMPLES)
        kept: dict = {}
        infinite: set[str] = set()
        stats = collect_statistics(proto, missing, data, labels=data.labels, num_bins=num_bins,
                                   progress=bool(ctx.options.get("progress")), histograms=histograms,
                                   keep=keep, kept=kept, infinite=infinite)  # fmt: skip
        if infinite:
            _keep_float(model, infinite, ctx)
        if kept:
            ctx.state["float_layer_outputs"] = kept
        if cached is not None:
            for name, st in stats.tensors.items():
                cached.tensors[name] = st
            stats = CalibrationStats(cached.tensors, stats.num_samples)
        ctx.state["calibration"] = stats
        if self.options.cache:
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                stats.save(path)
            except OSError as e:
                ctx.warn(f"cannot write the calibration cache {path}: {e.strerror or e}")
        return False
