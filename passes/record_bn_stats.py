"""``record-bn-statistics``: remember what BatchNormalization says about a layer's output.

A BatchNormalization after a layer normalizes the layer's output to per-channel mean ``B``
(its bias) and standard deviation ``|scale|`` on the data it was trained on.  Once
``fuse-conv-bn-act`` folds it away that knowledge is gone, yet data-free methods need it:
analytic bias correction (the expected input of the next layer) and ``absorb-high-bias``.
This pass stores it on the layer op as ``op.meta["bn_stats"] = (mean, std)`` (float64 arrays,
one entry per output channel) before folding; the fused op keeps the layer's meta, and passes
that rescale or shift channels (``equalize-cross-layer``, ``absorb-high-bias``) update it.
The model itself is not changed.
"""

from __future__ import annotations

import numpy as np

from qcompiler.ir import Model
from qcompiler.pass_base import Pass, PassContext
from qcompiler.patterns import single_user

__all__ = ["RecordBnStatisticsPass", "BN_STATS"]

#: ``op.meta`` key of the recorded statistics.
BN_STATS = "bn_stats"
_LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class RecordBnStatisticsPass(Pass):
    name = "record-bn-statistics"
    description = "Record BatchNormalization's per-channel output mean/std on the layer before it (for data-free methods)."

    def run(self, model: Model, ctx: PassContext) -> bool:
        count = 0
        for bn in model.graph:
            if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx"):
                continue
            x = bn.input(0)
            layer = x.producer() if x is not None else None
            if layer is None or layer.op_type not in _LAYERS or single_user(x) is not bn:
                continue
            scale, bias = bn.input(1), bn.input(2)
            if scale is None or bias is None or not (scale.is_constant and bias.is_constant):
                continue
            s, b = np.asarray(scale.const, np.float64).reshape(-1), np.asarray(bias.const, np.float64).reshape(-1)
            if s.size != b.size:
                continue
            layer.meta[BN_STATS] = (b.copy(), np.abs(s))
            count += 1
        ctx.state["bn_stats_recorded"] = count
        return False  # metadata only: the model computes the same and every analysis holds
