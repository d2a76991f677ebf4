"""``insert-fake-quant``: mark the tensors to quantize with ``qcompiler.FakeQuant``.

For each op a quantization rule covers (and that ``honor-skip-nodes`` did not mark), its
activation inputs, its weight and (per the rule) its output get a FakeQuant; a tensor gets
at most one, shared by all its readers.  Outputs of shape ops share their input's
parameters.  Tensors that already come out of a DequantizeLinear (a quantized model) are
left as they are.  ``fold-quant-params`` later turns FakeQuant into QuantizeLinear /
DequantizeLinear with real parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcompiler.ir import DType, Model, Op, Value
from qcompiler.ir.ops import QC_DOMAIN
from qcompiler.ir.qc_ops import PER_TENSOR, ensure_qc_domain
from qcompiler.pass_base import Pass, PassContext
from qcompiler.quant_rules import FLOAT, SHARE, rule_table

__all__ = ["InsertFakeQuantPass", "PADDLE_OP_TYPES"]

#: Paddle op type names (``quantizable_op_type``) -> ONNX op types.
PADDLE_OP_TYPES = {
    "conv2d": ("Conv",), "depthwise_conv2d": ("Conv",), "conv2d_transpose": ("ConvTranspose",),
    "mul": ("MatMul", "Gemm"), "matmul": ("MatMul", "Gemm"), "matmul_v2": ("MatMul", "Gemm"),
    "pool2d": ("MaxPool", "AveragePool", "GlobalAveragePool"), "elementwise_add": ("Add",),
    "elementwise_sub": ("Sub",), "elementwise_mul": ("Mul",), "concat": ("Concat",),
    "softmax": ("Softmax",), "transpose": ("Transpose",), "transpose2": ("Transpose",),
    "reshape": ("Reshape",), "reshape2": ("Reshape",), "squeeze": ("Squeeze",),
    "bilinear_interp": ("Resize",), "nearest_interp": ("Resize",), "mean": ("ReduceMean",),
    "sigmoid": ("Sigmoid",), "slice": ("Slice",),
}  # fmt: skip
_DEFAULT_PARTIAL = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass
class FakeQuantOptions:
    activation_bits: int = field(default=8, metadata={"help": "activation bits (1-8)"})
    weight_bits: int = field(default=8, metadata={"help": "weight bits (1-8)"})
    per_channel: bool = field(default=True, metadata={"help": "per-output-channel weight scales"})
    activation_symmetric: bool = False
    weight_symmetric: bool = True
    # onnxruntime's CPU kernels fuse Q/DQ into QLinearConv & co. only for uint8 activations
    # (measured: with int8 activations 4 of the 6 convs of the digits CNN stayed float).
    activation_signed: bool = field(default=False, metadata={"help": "int8 (true) or uint8 activations"})
    narrow_range: bool = False
    # onnxruntime's integer kernels on x86 without VNNI add pairs of 8-bit products in int16
    # and saturate with full 8-bit weights (measured on the digits CNN: 99.4% -> 86.8% with
    # uint8 activations; a 10-step error on one output of a single int8 conv); weights within
    # [-64, 64] (its own reduce_range) keep the sums in range.
    reduce_range: bool = field(default=True, metadata={"help": "weights within [-64, 64], onnxruntime's reduce_range (x86 without VNNI)"})
    method: str = field(default="MAX_MIN", metadata={"help": "activation calibration method"})
    is_full_quantize: bool = field(default=True, metadata={"help": "quantize every supported op type"})
    quantizable_op_types: list[str] = field(default_factory=list,
                                            metadata={"help": "op types quantized when not full"})  # fmt: skip
    first_layer_weight_bits: int = field(default=8, metadata={
        "help": "weight bits of layers reading a model input when weight_bits < 8 (0: same as the rest)"})
    use_config: bool = field(default=True, metadata={"help": "take values from the quantization config"})


_CONFIG_MAP = {  # option -> (section, key)
    "per_channel": ("full_quant_param", "per_channel"),
    "activation_symmetric": ("full_quant_param", "activation_symmetric"),
    "weight_symmetric": ("full_quant_param", "weight_symmetric"),
    "activation_signed": ("full_quant_param", "activation_signed"),
    "narrow_range": ("full_quant_param", "narrow_range"),
    "reduce_range": ("full_quant_param", "reduce_range"),
    "method": ("full_quant_param", "activation_quant_method"),
    "is_full_quantize": ("full_quant_param", "is_full_quantize"),
    "quantizable_op_types": ("full_quant_param", "quantizable_op_type"),
}


def options_with_config(opts: FakeQuantOptions, config) -> FakeQuantOptions:
    """Config values replace options the config sets (the config is what the user wrote)."""
    if config is None or not opts.use_config:
        return opts
    values = {k: getattr(opts, k) for k in opts.__dataclass_fields__}
    for opt, (section, key) in _CONFIG_MAP.items():
        if (section, key) in config.given:
            v = config.get(section, key)
            values[opt] = list(v) if isinstance(v, tuple) else v
    values["activation_bits"] = config.activation_bits
    values["weight_bits"] = config.weight_bits
    return FakeQuantOptions(**values)


def _allowed_types(opts: FakeQuantOptions) -> set[str] | None:
    if opts.is_full_quantize:
        return None
    names = opts.quantizable_op_types or list(_DEFAULT_PARTIAL)
    out: set[str] = set()
    for n in names:
        out.update(PADDLE_OP_TYPES.get(n, (n,)))
    return out


def _is_float(v: Value | None) -> bool:
    return v is not None and v.dtype in (DType.FLOAT32, DType.FLOAT16)


def _already_quantized(v: Value) -> bool:
    p = v.producer()
    return p is not None and p.op_type == "DequantizeLinear" or (p is not None and p.op_type == "FakeQuant")


def _in_quantized_region(op: Op) -> bool:
    """True when an op reads a DequantizeLinear or feeds a QuantizeLinear (a QDQ model)."""
    reads = any(v is not None and v.producer() is not None and v.producer().op_type == "DequantizeLinear"
                for v in op.inputs)  # fmt: skip
    feeds = any(u.op_type == "QuantizeLinear" for o in op.outputs for u in o.users())
    return reads or feeds


class InsertFakeQuantPass(Pass):
    name = "insert-fake-quant"
    description = "Mark activations, weights and outputs of quantizable ops with FakeQuant."
    Options = FakeQuantOptions
    requires = ("types",)

    def run(self, model: Model, ctx: PassContext) -> bool:
        opts = options_with_config(self.options, ctx.config)
        table = rule_table(ctx.registry)
        allowed = _allowed_types(opts)
        g = model.graph
        ensure_qc_domain(model)
        done: dict[Value, Value] = {}
        count = 0
        graph_inputs = set(g.inputs)

        def first_layer(op: Op) -> bool:
            # Layers reading a model input have the least redundancy (e.g. 9 weights per
            # channel for a 3x3 conv on a gray image): sub-8-bit weights there cost the most.
            x = op.input(0)
            return x in graph_inputs or (x is not None and x.producer() is not None
                                         and x.producer().op_type == "FakeQuant"
                                         and x.producer().input(0) in graph_inputs)  # fmt: skip

        def fake_quant(v: Value, reader: Op, slot: int, *, role: str, axis: int | None, share: bool = False,
                       like_activation: bool = False) -> None:  # fmt: skip
            nonlocal count
            if _already_quantized(v):
                return
            key = v if role == "activation" else None
            if key is not None and key in done:
                reader.replace_input(slot, done[key])
                return
            producer = v.producer()
            if producer is not None and producer.graph is g:
                b = g.builder(after=producer)
            else:
                b = g.builder(before=reader if role == "weight" else g.first)
            act_type = role == "activation" or like_activation
            bits = opts.activation_bits if act_type else opts.weight_bits
            if role == "weight" and not like_activation and first_layer(reader) and 0 < bits < opts.first_layer_weight_bits:
                bits = opts.first_layer_weight_bits
            reduced = role == "weight" and not like_activation and bits == 8 and opts.reduce_range
            if reduced:
                bits = 7  # onnxruntime's reduce_range: quant_math.REDUCED_RANGE
            attrs = {
                "role": role, "bits": bits,
                "signed": int(opts.activation_signed if act_type else True),
                "symmetric": int(opts.activation_symmetric if act_type else opts.weight_symmetric),
                "narrow_range": int(opts.narrow_range), "axis": PER_TENSOR if axis is None else axis,
                "method": opts.method, "share": int(share),
            }  # fmt: skip
            if reduced:
                attrs["reduce_range"] = 1
            fq = b.create("FakeQuant", [v], attrs, domain=QC_DOMAIN, name=f"{v.name}_fq").output
            fq.type = v.type
            count += 1
            if role == "activation":
                v.replace_all_uses_with(fq, exclude=[fq.producer()])
                done[v] = fq
            else:
                reader.replace_input(slot, fq)

        def rule_of(op: Op):
            """The rule the loop below applies to ``op``: None for skipped ops, ops without a
            rule and op types the config leaves out."""
            entry = table.get((op.domain, op.op_type))
            if op.meta.get("skip_quant") or entry is None:
                return None
            base = op.op_type[:-3] if op.domain == QC_DOMAIN and op.op_type.endswith("Act") else op.op_type
            return entry[0] if allowed is None or base in allowed else None

        def quantized_here(op: Op) -> bool:
            rule = rule_of(op)
            return rule is not None and rule.output != FLOAT

        def relu_takes_over(out: Value) -> bool:
            """``out`` goes only to a ReLU (or a Clip from 0) that is quantized itself: that
            quantization alone stands for both, as onnxruntime's quantizer writes it (its
            QuantizeLinear with zero point at the type's minimum is the ReLU, and onnxruntime
            fuses the op before it into its integer kernel); a second one on ``out`` would only
            add rounding on a range twice as wide."""
            if out.is_graph_output or len(out.uses()) != 1:
                return False
            u = out.users()[0]
            if u.domain not in ("", "ai.onnx") or not quantized_here(u) or u.input(0) is not out:
                return False
            if u.op_type == "Relu":
                return True
            if u.op_type == "Clip":
                lo = u.input(1) if len(u.inputs) > 1 else None
                lo_value = u.attr("min") if lo is None else (float(np.asarray(lo.const).reshape(-1)[0])
                                                              if lo.is_constant and np.size(lo.const) == 1 else None)
                return lo_value is not None and float(lo_value) == 0.0
            return False

        deferred: set[Value] = set()
        for op in list(g):
            rule = rule_of(op) if op.graph is not None else None
            if rule is None:
                continue
            slots = rule.activation_slots(op)
            if not slots or not all(_is_float(op.input(i)) for i in slots):
                continue
            if _in_quantized_region(op):
                continue  # the model already quantizes this op: keep its scales
            if rule.output == SHARE and not _is_float(op.outputs[0]):
                continue
            for i in slots:
                v = op.input(i)
                if v in deferred:
                    continue  # this ReLU's output quantization stands for its input's
                if v.is_constant:
                    # a constant operand of Add/Mul/Concat takes the activations' type (range from
                    # its values): onnxruntime fuses a binary op only when both inputs share it
                    fake_quant(v, op, i, role="weight", axis=None, like_activation=True)
                else:
                    fake_quant(v, op, i, role="activation", axis=None)
            if rule.weight is not None and _is_float(op.input(rule.weight)):
                w = op.input(rule.weight)
                if w.is_constant:
                    axis = rule.weight_axis(op) if opts.per_channel else None
                    fake_quant(w, op, rule.weight, role="weight", axis=axis)
                else:
                    fake_quant(w, op, rule.weight, role="activation", axis=None)
            if rule.output != FLOAT and _is_float(op.outputs[0]):
                out = op.outputs[0]
                if rule.output != SHARE and rule.fixed_range is None and relu_takes_over(out):
                    deferred.add(out)
                    continue
                if rule.fixed_range is not None and "range" not in out.meta:
                    out.meta["range_bound"] = tuple(rule.fixed_range)
                fake_quant(out, out.users()[0] if out.users() else op, 0, role="activation", axis=None,
                           share=rule.output == SHARE)  # fmt: skip
        ctx.state["fake_quant_count"] = count
        return count > 0
