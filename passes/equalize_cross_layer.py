"""``equalize-cross-layer``: data-free cross-layer equalization (Nagel et al., 2019).

For two convolutions in a row, ``y = conv2(act(conv1(x)))`` with ``act`` ReLU or the identity
(positive scaling commutes with both), output channel ``c`` of conv1 is divided by ``s_c`` and
input channel ``c`` of conv2 multiplied by it, with ``s_c = sqrt(r1_c / r2_c)`` where ``r1_c``
and ``r2_c`` are the channel's weight ranges in the two layers.  Afterwards both layers have the
same range per channel, so per-tensor weight quantization wastes far fewer levels (depthwise
convolutions with very different channel ranges gain most).  The float model computes the same
function.  Pairs joined by ReLU6 / Clip are skipped: the clip bound cannot scale per channel.

Run it after ``fuse-conv-bn-act`` (BatchNormalization folded, activations fused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qcompiler.ir import Model, Op
from qcompiler.ir.qc_ops import fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.patterns import single_user

__all__ = ["EqualizeCrossLayerPass", "equalization_pairs"]


@dataclass
class EqualizeOptions:
    when: Literal["always", "config"] = field(
        default="always", metadata={"help": "'config': only when the config sets equalization=true"})
    iterations: int = field(default=20, metadata={"help": "sweeps over all pairs at most"})
    tolerance: float = field(default=1e-4, metadata={"help": "stop when scales change less than this"})


def _conv_kind(op: Op) -> str | None:
    base = fused_base(op) or (op.op_type if op.domain in ("", "ai.onnx") else None)
    if base != "Conv":
        return None
    act = op.attr("activation") if fused_base(op) else None
    if act not in (None, "Relu"):
        return None  # Clip, HardSwish...: scaling does not commute with them
    return "conv"


def _weights(op: Op) -> np.ndarray | None:
    w = op.input(1)
    return None if w is None or not w.is_constant else np.asarray(w.const)


def equalization_pairs(model: Model) -> list[tuple[Op, Op]]:
    """(conv1, conv2) pairs where conv1's output feeds only conv2, both with constant weights."""
    pairs = []
    for op in model.graph:
        if _conv_kind(op) is None or _weights(op) is None:
            continue
        nxt = single_user(op.outputs[0])
        if nxt is None or nxt.input(0) is not op.outputs[0] or _weights(nxt) is None:
            continue
        base2 = fused_base(nxt) or nxt.op_type
        if base2 != "Conv" or nxt.domain not in ("", "ai.onnx", "qcompiler"):
            continue
        w1, w2 = _weights(op), _weights(nxt)
        g2 = nxt.attr("group", 1)
        channels = w1.shape[0]
        if g2 == 1 and w2.shape[1] == channels or g2 == channels and w2.shape[0] == channels and w2.shape[1] == 1:
            pairs.append((op, nxt))
    return pairs


def _ranges(op1: Op, op2: Op) -> tuple[np.ndarray, np.ndarray]:
    w1, w2 = _weights(op1), _weights(op2)
    r1 = np.abs(w1).reshape(w1.shape[0], -1).max(axis=1)
    if op2.attr("group", 1) == 1:
        r2 = np.abs(w2).transpose(1, 0, *range(2, w2.ndim)).reshape(w2.shape[1], -1).max(axis=1)
    else:  # depthwise: input channel c is output channel c
        r2 = np.abs(w2).reshape(w2.shape[0], -1).max(axis=1)
    return r1, r2


def _apply(op1: Op, op2: Op, s: np.ndarray) -> None:
    g = op1.graph
    w1, w2 = _weights(op1).astype(np.float64), _weights(op2).astype(np.float64)
    w1 = w1 / s.reshape(-1, *[1] * (w1.ndim - 1))
    if op2.attr("group", 1) == 1:
        w2 = w2 * s.reshape(1, -1, *[1] * (w2.ndim - 2))
    else:
        w2 = w2 * s.reshape(-1, *[1] * (w2.ndim - 1))
    op1.replace_input(1, g.add_constant(w1.astype(np.float32), op1.input(1).name + "_eq"))
    op2.replace_input(1, g.add_constant(w2.astype(np.float32), op2.input(1).name + "_eq"))
    stats = op1.meta.get("bn_stats")  # record-bn-statistics: conv1's output channels scale by 1/s
    if stats is not None and stats[0].shape == s.shape:
        op1.meta["bn_stats"] = (stats[0] / s, stats[1] / s)
    b1 = op1.input(2)
    if b1 is not None and b1.is_constant:
        op1.replace_input(2, g.add_constant((np.asarray(b1.const, np.float64) / s).astype(np.float32),
                                            b1.name + "_eq"))  # fmt: skip


class EqualizeCrossLayerPass(Pass):
    name = "equalize-cross-layer"
    description = "Rescale channels of consecutive convolutions so their weight ranges match (data-free)."
    Options = EqualizeOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        if self.options.when == "config" and not (ctx.config is not None
                                                  and ctx.config.get("full_quant_param", "equalization")):  # fmt: skip
            return False
        pairs = equalization_pairs(model)
        if not pairs:
            return False
        for _ in range(self.options.iterations):
            worst = 0.0
            for op1, op2 in pairs:
                r1, r2 = _ranges(op1, op2)
                ok = (r1 > 0) & (r2 > 0)
                s = np.ones_like(r1, dtype=np.float64)
                s[ok] = np.sqrt(r1[ok] / r2[ok])
                worst = max(worst, float(np.abs(np.log(s)).max()) if s.size else 0.0)
                _apply(op1, op2, s)
            if worst < self.options.tolerance:
                break
        g = model.graph
        for c in list(g.constants):
            if not c.has_uses():
                g.remove_constant(c)
        ctx.state["equalized_pairs"] = len(pairs)
        return True
