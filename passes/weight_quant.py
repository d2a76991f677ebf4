"""``weight-quant``: weight-only quantization (MindSpore Lite's WEIGHT_QUANT).

Each float weight of Conv / ConvTranspose / Gemm / MatMul / Gather (and the fused ``*Act``
ops) becomes an integer constant with a :class:`~qcompiler.ir.QuantType` followed by a
``DequantizeLinear``; computation stays float.  Activations are untouched.

* Fixed bits (``bits`` 1..16): per output channel (or per tensor), symmetric (asymmetric for
  1 bit, where symmetric has no room).  Weights of up to 8 bits are stored in ``int8``, wider
  ones in ``int16`` (which needs opset 21 for ``DequantizeLinear``; the model is raised).
* Mixed bits (``bits=0``): per layer, the fewest bits (2..8) whose relative RMS error
  ``||w - dq(q(w))|| / ||w||`` is at most ``init_scale`` (0.02, the default, gives about 6-7
  bits on average, as MindSpore documents).
* ``auto_tune``: searches ``init_scale`` (bisection in log space) for the largest value whose
  model output keeps a cosine similarity of at least ``target_cosine`` (0.995) to the float
  model on the calibration data.
* A weight is quantized only when it has more than ``min_quant_weight_size`` elements and more
  than ``min_quant_weight_channel`` output channels (MindSpore's thresholds).
* ``block_size`` (config ``weight_block_size``; 0 = off): 2-D MatMul/Gemm weights get one
  scale per ``block_size`` weights along the reduction axis K (symmetric, int4 storage up to 4
  bits), read through ``DequantizeLinear`` with ``block_size`` (opset 21; the model is
  raised).  onnxruntime fuses such a ``DequantizeLinear`` + ``MatMul`` into ``MatMulNBits``,
  its kernel for 4-bit transformer weights.  Other layers keep per-channel scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcompiler.errors import DataError
from qcompiler.frontend.big_weights import ort_session
from qcompiler.ir import DType, Model, Op, QuantType, TensorType, Value
from qcompiler.ir.qc_ops import fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.quant_math import dequantize, quantize_blocked, quantize_tensor

__all__ = ["WeightQuantPass", "quantize_weight", "weight_channel_axis", "choose_mixed_bits"]

#: op type -> (weight input index, output-channel axis of the weight).
_WEIGHT_SLOTS = {"Conv": (1, 0), "ConvTranspose": (1, 1), "Gemm": (1, None), "MatMul": (1, -1),
                 "Gather": (0, None)}  # fmt: skip


@dataclass
class WeightQuantOptions:
    bits: int = field(default=8, metadata={"help": "weight bits 1..16; 0 = mixed bits"})
    per_channel: bool = field(default=True, metadata={"help": "one scale per output channel"})
    min_quant_weight_size: int = field(default=0, metadata={"help": "quantize weights with more elements"})  # noqa: E501
    min_quant_weight_channel: int = field(default=16, metadata={"help": "quantize weights with more channels"})  # noqa: E501
    init_scale: float = field(default=0.02, metadata={"help": "mixed bits: relative error per layer"})  # noqa: E501
    auto_tune: bool = field(default=False, metadata={"help": "mixed bits: search init_scale"})
    target_cosine: float = field(default=0.995, metadata={"help": "auto_tune's output cosine similarity"})  # noqa: E501
    block_size: int = field(default=0, metadata={"help": "MatMul/Gemm: one scale per this many weights along K (0: off)"})  # noqa: E501
    use_config: bool = field(default=True, metadata={"help": "take values from the quantization config"})  # noqa: E501

    def __post_init__(self) -> None:
        if self.block_size and (self.block_size < 16 or self.block_size & (self.block_size - 1)):
            raise ValueError(f"block_size={self.block_size} must be 0 or a power of two >= 16")


def weight_channel_axis(op: Op) -> tuple[int, int | None] | None:
    """``(weight input index, output channel axis)`` of an op with a weight, else ``None``."""
    base = fused_base(op) or (op.op_type if op.domain in ("", "ai.onnx") else None)
    slot = _WEIGHT_SLOTS.get(base or "")
    if slot is None:
        return None
    index, axis = slot
    if base == "Gemm":
        axis = 0 if op.attr("transB", 0) else 1
    if base == "Gather":
        axis = None
    return index, axis


def quantize_weight(w: np.ndarray, bits: int, axis: int | None) -> tuple[np.ndarray, QuantType]:
    """Symmetric ``bits``-bit weights (per ``axis`` or per tensor); see quant_math."""
    return quantize_tensor(w, bits, axis=axis, symmetric=True, signed=True)


def relative_error(w: np.ndarray, bits: int, axis: int | None) -> float:
    q, qt = quantize_weight(w, bits, axis)
    err = np.linalg.norm(dequantize(q, qt) - w)
    norm = np.linalg.norm(w)
    return float(err / norm) if norm > 0 else 0.0


def choose_mixed_bits(w: np.ndarray, axis: int | None, init_scale: float) -> int:
    """The fewest bits in 2..8 whose relative RMS error is at most ``init_scale``."""
    for bits in range(2, 9):
        if relative_error(w, bits, axis) <= init_scale:
            return bits
    return 8


def _channels(w: np.ndarray, axis: int | None) -> int:
    if axis is None or w.ndim == 0:
        return int(w.shape[0]) if w.ndim else 1
    return int(w.shape[axis % w.ndim])


def _candidates(model: Model, opts: WeightQuantOptions) -> list[tuple[Op, int, int | None]]:
    out = []
    for op in model.graph.all_ops():
        if op.meta.get("skip_quant"):
            continue
        slot = weight_channel_axis(op)
        if slot is None:
            continue
        index, axis = slot
        w = op.input(index)
        if w is None or not w.is_constant or w.dtype not in (DType.FLOAT32, DType.FLOAT16):
            continue
        arr = np.asarray(w.const)
        if arr.ndim < 1 or arr.size <= opts.min_quant_weight_size:
            continue
        if _channels(arr, axis) <= opts.min_quant_weight_channel:
            continue
        out.append((op, index, axis if opts.per_channel else None))
    return out


def _apply(model: Model, plan: list[tuple[Op, int, int | None, int]]) -> None:
    done: dict[tuple[Value, int, int | None], Value] = {}
    for op, index, axis, bits in plan:
        w = op.input(index)
        key = (w, bits, axis)
        if key not in done:
            g = w.graph()
            q, qt = quantize_weight(np.asarray(w.const, dtype=np.float32), bits, axis)
            qc = g.add_constant(q, w.name + "_quant", elem=qt)
            scale = g.add_constant(np.asarray(qt.scale, np.float32).reshape(-1 if axis is not None else ()),
                                   w.name + "_scale")  # fmt: skip
            zp = g.add_constant(np.asarray(qt.zero_point, dtype=qt.storage.numpy()).reshape(-1 if axis is not None else ()),  # noqa: E501
                                w.name + "_zero_point", elem=qt.storage)  # fmt: skip
            # At the top of the defining graph, so it dominates every reader of the weight.
            b = g.builder(before=g.first)
            attrs = {"axis": axis % q.ndim} if axis is not None else {}
            dq = b.create("DequantizeLinear", [qc, scale, zp], attrs).output
            dq.type = TensorType(DType.FLOAT32, w.shape)
            done[key] = dq
        op.replace_input(index, done[key])
    for c in list(model.graph.constants):
        if not c.has_uses():
            model.graph.remove_constant(c)


def _block_axis(op: Op) -> int | None:
    """The reduction axis K of a 2-D MatMul/Gemm weight (blocked quantization), else ``None``."""
    base = fused_base(op) or (op.op_type if op.domain in ("", "ai.onnx") else None)
    w = op.input(1)
    if base not in ("MatMul", "Gemm") or w is None or not w.is_constant or np.ndim(w.const) != 2:
        return None
    if base == "Gemm":
        return 1 if op.attr("transB", 0) else 0
    return 0


def _apply_blocked(model: Model, plan: list[tuple[Op, int, int]], bits: int, block: int) -> None:
    done: dict[Value, Value] = {}
    for op, index, axis in plan:
        w = op.input(index)
        if w not in done:
            g = w.graph()
            q, scale, qt = quantize_blocked(np.asarray(w.const, np.float32), bits, axis=axis, block_size=block)
            if bits <= 4:
                qt = QuantType(DType.INT4, qt.scale, qt.zero_point, bits=bits, axis=axis, narrow_range=True,
                               block_size=block)  # fmt: skip
            qc = g.add_constant(q, w.name + "_quant", elem=qt)
            sc = g.add_constant(scale.astype(np.float32), w.name + "_scale")
            b = g.builder(before=g.first)
            dq = b.create("DequantizeLinear", [qc, sc], {"axis": axis, "block_size": block}).output
            dq.type = TensorType(DType.FLOAT32, w.shape)
            done[w] = dq
        op.replace_input(index, done[w])
    for c in list(model.graph.constants):
        if not c.has_uses():
            model.graph.remove_constant(c)


def _output_cosine(float_model: Model, quant_model: Model, samples: list[dict]) -> float:
    from qcompiler.codegen.onnx_backend import ir_to_proto

    def run(m: Model) -> list[np.ndarray]:
        sess = ort_session(ir_to_proto(m), intra_op_num_threads=1)
        return [np.concatenate([o.reshape(-1) for o in sess.run(None, s)]) for s in samples]

    a, b = np.concatenate(run(float_model)), np.concatenate(run(quant_model))
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 1.0


def _options_from_config(opts: WeightQuantOptions, config) -> WeightQuantOptions:
    if config is None or not opts.use_config:
        return opts
    common = config.common_quant_param
    mixed = config.mixed_bit_weight_quant_param
    full = config.full_quant_param
    return WeightQuantOptions(
        bits=config.weight_bits, per_channel=bool(getattr(full, "per_channel", opts.per_channel)),
        min_quant_weight_size=common.min_quant_weight_size,
        min_quant_weight_channel=common.min_quant_weight_channel,
        init_scale=mixed.init_scale, auto_tune=mixed.auto_tune, target_cosine=opts.target_cosine,
        block_size=common.weight_block_size, use_config=False,
    )  # fmt: skip


class WeightQuantPass(Pass):
    name = "weight-quant"
    description = "Weight-only quantization: fixed 1-16 bits or mixed bits per layer (MindSpore WEIGHT_QUANT)."  # noqa: E501
    Options = WeightQuantOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        opts = _options_from_config(self.options, ctx.config)
        if not (0 <= opts.bits <= 16):
            from qcompiler.errors import PipelineError

            raise PipelineError(f"weight-quant: bits={opts.bits} must be in [0, 16]")
        cands = _candidates(model, opts)
        if not cands:
            return False
        if opts.block_size and 0 < opts.bits <= 8:
            blocked = [(op, i, _block_axis(op)) for op, i, _ in cands if _block_axis(op) is not None]
            if blocked:
                if model.opset_imports.get("", 1) < 21:
                    from qcompiler.passes.upgrade_opset import UpgradeOpsetPass, UpgradeOptions

                    UpgradeOpsetPass(UpgradeOptions(opset=21)).run(model, ctx)
                    return self.run(model, ctx)  # the ops are new objects after the conversion
                _apply_blocked(model, blocked, opts.bits, opts.block_size)
                ctx.state["blocked_weights"] = len(blocked)
                cands = _candidates(model, opts)  # what is left (blocked weights are no longer float)
                if not cands:
                    return True
        if opts.bits > 0:
            plan = [(op, i, axis, opts.bits) for op, i, axis in cands]
        else:
            scale = opts.init_scale
            if opts.auto_tune:
                scale = self._tune(model, cands, opts, ctx)
            plan = [(op, i, axis, choose_mixed_bits(np.asarray(op.input(i).const), axis, scale))
                    for op, i, axis in cands]  # fmt: skip
            ctx.state["mixed_bits"] = {op.name or op.output.name: bits for op, _, _, bits in plan}
        _apply(model, plan)
        return True

    def _tune(self, model: Model, cands, opts: WeightQuantOptions, ctx: PassContext) -> float:
        if ctx.calib_data is None:
            raise DataError("weight-quant: auto_tune needs calibration data (calibrate_path or "
                            "--calib-data) to measure the output cosine similarity")  # fmt: skip
        from qcompiler.data import as_calibration_set, input_specs

        data = as_calibration_set(ctx.calib_data, input_specs(model), ctx.config)
        samples = [s for _, s in zip(range(16), data)]
        lo, hi = np.log(1e-4), np.log(0.5)
        best = float(np.exp(lo))
        names = [(op.name, op.outputs[0].name, i, axis) for op, i, axis in cands]
        for _ in range(8):
            mid = (lo + hi) / 2
            trial = model.clone()
            index = {(o.name, o.outputs[0].name): o for o in trial.graph.all_ops()}
            plan = []
            for name, out, i, axis in names:
                op = index[(name, out)]
                plan.append((op, i, axis, choose_mixed_bits(np.asarray(op.input(i).const), axis, float(np.exp(mid)))))  # noqa: E501
            _apply(trial, plan)
            if _output_cosine(model, trial, samples) >= opts.target_cosine:
                best, lo = float(np.exp(mid)), mid
            else:
                hi = mid
        ctx.state["auto_tune_init_scale"] = best
        return best
