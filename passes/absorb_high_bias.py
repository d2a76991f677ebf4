"""``absorb-high-bias``: move the always-positive part of a ReLU layer's output into the next layer.

For ``y = layer2(relu(z))`` with ``z = layer1(x)``, if channel ``c`` of ``z`` never falls
below ``h_c > 0`` then ``relu(z_c - h_c) = relu(z_c) - h_c``, so subtracting ``h_c`` from
layer1's bias and adding ``W2 @ h`` to layer2's bias computes the same function (Nagel et al.
2019, section 4.1).  The activation tensor between them loses the constant offset and its
quantization range shrinks; cross-layer equalization, which scales some channels' biases up,
leaves much to absorb.

``h_c`` is the smallest value channel ``c`` of the layer's output takes over the calibration
data less ``margin`` times the channel's standard deviation there (default 1: inputs a little
outside what calibration saw still leave the ReLU unclipped), and at least 0; when ``record-bn-statistics`` left BatchNormalization statistics,
``h_c`` is further capped at ``mean - 3 std`` (the paper's data-free rule).  Layer2 must be
pad-free (a 1x1 convolution, a Gemm, or such through GlobalAveragePool / Flatten): with zero
padding, border outputs would see the offset where there were only zeros.

Runs on the float model after ``fuse-conv-bn-act`` (and ``equalize-cross-layer``), before
``insert-fake-quant``; needs calibration data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qcompiler.bias_correction import _output_shift
from qcompiler.ir import Model, Op
from qcompiler.ir.qc_ops import fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.passes.layer_data import calibration_set, run_exposing
from qcompiler.passes.record_bn_stats import BN_STATS
from qcompiler.patterns import single_user

__all__ = ["AbsorbHighBiasPass", "absorption_pairs"]

_PASS_THROUGH = ("GlobalAveragePool", "Flatten")


@dataclass
class AbsorbOptions:
    when: Literal["always", "config"] = field(
        default="always", metadata={"help": "'config': only when the config sets bias_absorption=true"})
    margin: float = field(default=1.0, metadata={"help": "standard deviations kept below the calibration minimum"})
    max_samples: int = field(default=256, metadata={"help": "calibration samples looked at"})

    def __post_init__(self) -> None:
        if not self.margin >= 0:
            raise ValueError(f"margin={self.margin} must be >= 0")


def _pad_free(op: Op) -> bool:
    if op.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return False
    return not any(op.attr("pads", ()) or ())


def _bias_const(op: Op) -> np.ndarray | None:
    b = op.input(2)
    return None if b is None or not b.is_constant else np.asarray(b.const, np.float64)


def absorption_pairs(model: Model) -> list[tuple[Op, Op]]:
    """(layer1, layer2): layer1 a Conv/Gemm with a fused ReLU and a constant bias whose output
    reaches only layer2, a pad-free Conv or a Gemm with a constant weight and bias, directly or
    through GlobalAveragePool / Flatten."""
    pairs = []
    for op in model.graph:
        if fused_base(op) not in ("Conv", "Gemm") or op.attr("activation") != "Relu" or _bias_const(op) is None:
            continue
        v = op.outputs[0]
        nxt = single_user(v)
        while nxt is not None and nxt.op_type in _PASS_THROUGH and nxt.input(0) is v:
            v = nxt.outputs[0]
            nxt = single_user(v)
        if nxt is None or nxt.input(0) is not v:
            continue
        base2 = fused_base(nxt) or (nxt.op_type if nxt.domain in ("", "ai.onnx") else None)
        w2 = nxt.input(1)
        if base2 not in ("Conv", "Gemm") or w2 is None or not w2.is_constant or _bias_const(nxt) is None:
            continue
        if base2 == "Conv" and not _pad_free(nxt):
            continue
        pairs.append((op, nxt))
    return pairs


class AbsorbHighBiasPass(Pass):
    name = "absorb-high-bias"
    description = "Move bias a ReLU never clips (on the calibration data) into the next layer."
    Options = AbsorbOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        if self.options.when == "config" and not (ctx.config is not None
                                                  and ctx.config.get("full_quant_param", "bias_absorption")):  # fmt: skip
            return False
        pairs = absorption_pairs(model)
        if not pairs:
            return False
        data = calibration_set(model, ctx, f"{self.name}")
        names = [op1.outputs[0].name for op1, _ in pairs]
        mins: list[np.ndarray | None] = [None] * len(pairs)
        sums = [(0.0, 0.0, 0.0) for _ in pairs]  # count, sum, sum of squares per channel
        for outs in run_exposing(model, names, data, limit=self.options.max_samples):
            for k, y in enumerate(outs):
                axes = tuple(a for a in range(y.ndim) if a != 1)
                y = y.astype(np.float64)
                m = y.min(axis=axes)
                mins[k] = m if mins[k] is None else np.minimum(mins[k], m)
                n, s1, s2 = sums[k]
                sums[k] = (n + y.size / y.shape[1], s1 + y.sum(axis=axes), s2 + (y * y).sum(axis=axes))
        g = model.graph
        absorbed = {}
        for (op1, op2), m, (n, s1, s2) in zip(pairs, mins, sums):
            if m is None:
                continue
            std = np.sqrt(np.maximum(s2 / n - (s1 / n) ** 2, 0.0))
            h = np.where(m > 0, np.maximum(m - self.options.margin * std, 0.0), 0.0)
            stats = op1.meta.get(BN_STATS)
            if stats is not None and stats[0].shape == h.shape:
                h = np.minimum(h, np.maximum(stats[0] - 3 * stats[1], 0.0))
            b1, b2 = _bias_const(op1), _bias_const(op2)
            shift = _output_shift(op2, np.asarray(op2.input(1).const, np.float64), h)
            if not np.any(h > 0) or shift is None or b1.shape != h.shape or b2.shape != shift.shape:
                continue
            op1.replace_input(2, g.add_constant((b1 - h).astype(np.float32), op1.input(2).name + "_absorbed"))
            op2.replace_input(2, g.add_constant((b2 + shift).astype(np.float32), op2.input(2).name + "_absorbed"))
            if stats is not None and stats[0].shape == h.shape:
                op1.meta[BN_STATS] = (stats[0] - h, stats[1])
            absorbed[op1.name or op1.outputs[0].name] = float(h.mean())
        for c in list(g.constants):
            if not c.has_uses():
                g.remove_constant(c)
        ctx.state["absorbed_bias"] = absorbed
        return bool(absorbed)
