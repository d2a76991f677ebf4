"""``choose-layer-bits``: keep the few sensitive layers at higher precision under a size budget.

After ``insert-fake-quant`` marked every layer with the config's bits (W4A8, W8A8, W4A4...)
and ``collect-calibration`` gathered activation statistics, each Conv / Gemm / MatMul layer
``L`` has an *upgrade*: its weight to 8 bits (7 with ``reduce_range``) and its input
activation to 8 bits when they are lower, or, for a layer already at 8/8, its weight kept
float.  The search measures, on a few calibration samples in onnxruntime, the model output
error when only ``L`` is quantized at its current bits and when only ``L`` is quantized at its
upgraded bits; the difference is what upgrading ``L`` buys.  Layers are upgraded greedily by
that gain per extra weight byte while the weight bytes stay within ``size_budget`` times those
of the model at the configured bits (so ``size_budget=1.25`` allows 25% more).  Activation
bits follow the layers they feed (an upgraded layer's input tensor gets 8 bits for every
reader).  The float model is not changed; the chosen bits go to ``ctx.state["layer_bits"]``.

Config: ``[full_quant_param] layer_bits_search=true`` turns it on in the default pipeline,
``size_budget`` (default 1.25) bounds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qcompiler.calibration.observers import get_observer
from qcompiler.frontend.big_weights import ort_session
from qcompiler.ir import Model, Op
from qcompiler.ir.qc_ops import PER_TENSOR, fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.passes.layer_data import calibration_set
from qcompiler.quant_math import dequantize, quantize_tensor, scale_zero_point

__all__ = ["ChooseLayerBitsPass"]


@dataclass
class LayerBitsOptions:
    when: Literal["always", "config"] = field(
        default="always", metadata={"help": "'config': only when the config sets layer_bits_search=true"})
    size_budget: float = field(default=1.25, metadata={"help": "weight bytes allowed, relative to the configured bits"})
    samples: int = field(default=16, metadata={"help": "calibration samples the sensitivity is measured on"})
    use_config: bool = field(default=True, metadata={"help": "take size_budget from the config"})

    def __post_init__(self) -> None:
        if not self.size_budget >= 1.0:
            raise ValueError(f"size_budget={self.size_budget} must be >= 1")


def _fq(v) -> Op | None:
    p = v.producer() if v is not None else None
    return p if p is not None and p.op_type == "FakeQuant" else None


class ChooseLayerBitsPass(Pass):
    name = "choose-layer-bits"
    description = "Upgrade the most sensitive layers (weights and input activations) to 8 bits or float within a size budget."
    Options = LayerBitsOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        opts = self.options
        cfg = ctx.config
        if opts.when == "config" and not (cfg is not None and cfg.get("full_quant_param", "layer_bits_search")):
            return False
        budget = opts.size_budget
        if opts.use_config and cfg is not None and ("full_quant_param", "size_budget") in cfg.given:
            budget = float(cfg.get("full_quant_param", "size_budget"))
        stats = ctx.state.get("calibration")
        if stats is None:
            from qcompiler.errors import PipelineError

            raise PipelineError("choose-layer-bits needs activation statistics: run collect-calibration before it")
        reduce = bool(cfg.get("full_quant_param", "reduce_range")) if cfg is not None else True
        layers = []
        for op in model.graph:
            base = fused_base(op) or (op.op_type if op.domain in ("", "ai.onnx") else None)
            wfq, afq = _fq(op.input(1)), _fq(op.input(0))
            if base not in ("Conv", "Gemm", "MatMul") or wfq is None or wfq.attr("role") != "weight":
                continue
            if afq is not None and afq.attr("role") != "activation":
                afq = None
            wb, ab = wfq.attr("bits", 8), afq.attr("bits", 8) if afq is not None else 8
            top_w = 7 if reduce else 8
            if wb < top_w or ab < 8:
                up = (max(wb, top_w), max(ab, 8))
                extra = np.size(wfq.input(0).const) * (up[0] - wb) / 8
            else:
                up = None  # already 8/8: the upgrade keeps the weight float
                extra = np.size(wfq.input(0).const) * (32 - wb) / 8
            layers.append((op, wfq, afq, (wb, ab), up, extra))
        if not layers:
            return False
        base_bytes = sum(np.size(w.input(0).const) * b[0] / 8 for _, w, _, b, _, _ in layers)
        allowed = (budget - 1.0) * base_bytes
        data = calibration_set(model, ctx, self.name)
        samples = [s for _, s in zip(range(opts.samples), data)]
        errors = self._sensitivities(model, ctx, layers, samples)
        order = sorted(range(len(layers)), key=lambda k: -(errors[k][0] - errors[k][1]) / max(layers[k][5], 1.0))
        spent, chosen = 0.0, {}
        for k in order:
            op, wfq, afq, bits, up, extra = layers[k]
            if errors[k][0] <= errors[k][1] or spent + extra > allowed:
                continue
            spent += extra
            name = op.name or op.outputs[0].name
            if up is None:
                wfq.outputs[0].replace_all_uses_with(wfq.input(0))
                model.graph.remove(wfq)
                chosen[name] = "float"
            else:
                wfq.set_attr("bits", int(up[0]))
                if reduce and up[0] == 7:
                    wfq.set_attr("reduce_range", 1)
                if afq is not None and up[1] != bits[1]:
                    afq.set_attr("bits", int(up[1]))
                chosen[name] = up
        ctx.state["layer_bits"] = chosen
        ctx.state["layer_bits_bytes"] = (base_bytes, spent)
        return bool(chosen)

    # -- measuring ------------------------------------------------------------------------------
    def _sensitivities(self, model: Model, ctx: PassContext, layers, samples) -> list[tuple[float, float]]:
        """Per layer: output error energy with only that layer quantized at (current, upgraded) bits."""
        from qcompiler.codegen.onnx_backend import ir_to_proto

        proto = ir_to_proto(model)  # FakeQuant lowered to the identity: the float model
        def outputs(p: onnx.ModelProto) -> list[np.ndarray]:
            sess = ort_session(p, intra_op_num_threads=1, log_severity_level=3)
            return [np.concatenate([o.reshape(-1) for o in sess.run(None, s)]).astype(np.float64) for s in samples]

        ref = outputs(proto)
        stats = ctx.state["calibration"]
        method_opts = {}
        if ctx.config is not None:
            method_opts["percentile"] = ctx.config.get("full_quant_param", "percentile")
        out = []
        for op, wfq, afq, bits, up, _extra in layers:
            errs = []
            for wb, ab in (bits, up if up is not None else (None, bits[1])):
                p = onnx.ModelProto()
                p.CopyFrom(proto)
                self._fake_quantize(p, wfq, afq, wb, ab, stats, ctx, method_opts)
                errs.append(float(sum(np.sum((o - r) ** 2) for o, r in zip(outputs(p), ref))))
            out.append((errs[0], errs[1]))
        return out

    @staticmethod
    def _fake_quantize(p: onnx.ModelProto, wfq: Op, afq: Op | None, wbits: int | None, abits: int, stats, ctx,
                       method_opts) -> None:
        """Quantize one layer in the float proto: its weight (``wbits``; ``None`` keeps it float)
        and its input activation (``abits``) as QuantizeLinear/DequantizeLinear."""
        w = wfq.input(0)
        if wbits is not None:
            axis = wfq.attr("axis", PER_TENSOR)
            q, qt = quantize_tensor(np.asarray(w.const, np.float32), wbits, axis=None if axis == PER_TENSOR else axis,
                                    symmetric=bool(wfq.attr("symmetric", 1)), signed=bool(wfq.attr("signed", 1)),
                                    narrow=bool(wfq.attr("narrow_range", 0)),
                                    reduce_range=bool(wfq.attr("reduce_range", 0)))  # fmt: skip
            for t in p.graph.initializer:
                if t.name == w.name:
                    t.CopyFrom(numpy_helper.from_array(dequantize(q, qt).astype(np.float32), w.name))
        if afq is None:
            return
        x = afq.input(0).name
        if x not in stats:
            return
        sym, signed = bool(afq.attr("symmetric", 0)), bool(afq.attr("signed", 0))
        lo, hi = get_observer(afq.attr("method", "MAX_MIN"), ctx.registry, **method_opts).compute_range(stats[x], abits, sym)
        scale, zp = scale_zero_point(lo, hi, abits, signed, sym)
        dt = onnx.TensorProto.INT8 if signed else onnx.TensorProto.UINT8
        names = (f"{x}__lb_s", f"{x}__lb_z", f"{x}__lb_q", f"{x}__lb_dq")
        p.graph.initializer.extend([numpy_helper.from_array(np.asarray(scale, np.float32), names[0]),
                                    helper.make_tensor(names[1], dt, [], [zp])])
        reader = wfq.outputs[0].users()[0]
        layer_name = reader.name
        for n in p.graph.node:  # the layer reads x directly once FakeQuant is lowered
            if n.name == layer_name or (not layer_name and names[0] in n.input):
                for i, inp in enumerate(n.input):
                    if inp == x:
                        n.input[i] = names[3]
        p.graph.node.extend([helper.make_node("QuantizeLinear", [x, names[0], names[1]], [names[2]]),
                             helper.make_node("DequantizeLinear", [names[2], names[0], names[1]], [names[3]])])
        # Keep the graph topologically sorted: move the two new nodes before their reader.
        nodes = list(p.graph.node)
        qn, dqn = nodes[-2], nodes[-1]
        rest = nodes[:-2]
        idx = next((i for i, n in enumerate(rest) if names[3] in n.input), len(rest))
        del p.graph.node[:]
        p.graph.node.extend(rest[:idx] + [qn, dqn] + rest[idx:])

