"""Per-op quantization rules: which inputs and outputs of an op are quantized, and how.

A rule answers, for one op: which input slots are activations, which is a weight (and along
which axis its channels lie), which is a bias, and what its output does:

* ``OWN``: the output gets its own quantization parameters (from calibration);
* ``SHARE``: the output uses its first input's parameters (shape ops, MaxPool, Resize, Pad:
  the values do not change, and onnxruntime drops Q/DQ around such ops only when the
  parameters match);
* ``FLOAT``: the output stays float.

Built-in rules cover Conv, ConvTranspose, Gemm, MatMul (and the fused ``*Act`` ops), Add, Sub,
Mul, Concat, pooling, Resize, Softmax, Sigmoid, activations and shape ops.  Plugins add or
replace rules through the ``qcompiler_register_quant_rules`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qcompiler.errors import QCompilerError
from qcompiler.ir import Op

__all__ = ["QuantRule", "OWN", "SHARE", "FLOAT", "BUILTIN_RULES", "rule_table", "WEIGHT_AXIS"]

OWN, SHARE, FLOAT = "own", "share", "float"


@dataclass(frozen=True)
class QuantRule:
    """How ops of ``op_types`` (``(domain, op_type)`` pairs) are quantized."""

    op_types: tuple[tuple[str, str], ...]
    activations: tuple[int, ...] = (0,)
    weight: int | None = None
    bias: int | None = None
    output: str = OWN
    #: Every input is an activation (Concat, Add with two tensors...).
    all_inputs: bool = False
    #: Known output bounds (Sigmoid, Softmax: [0, 1]; Tanh: [-1, 1]): the output takes the range
    #: calibration saw within them (as onnxruntime's min/max does: a gate that never opens past
    #: 0.76 gets its 256 levels on [0, 0.76], not [0, 1]), and no method clips it.
    fixed_range: tuple[float, float] | None = None

    def activation_slots(self, op: Op) -> list[int]:
        if self.all_inputs:
            return [i for i, v in enumerate(op.inputs) if v is not None]
        return [i for i in self.activations if op.input(i) is not None]

    def weight_axis(self, op: Op) -> int | None:
        """The output-channel axis of the weight (``None``: per tensor only)."""
        return WEIGHT_AXIS(op)


def WEIGHT_AXIS(op: Op) -> int | None:  # noqa: N802 - a table-like function
    base = op.op_type[:-3] if op.domain == "qcompiler" and op.op_type.endswith("Act") else op.op_type
    if base == "Conv":
        return 0
    if base == "ConvTranspose":
        return 1
    if base == "Gemm":
        return 0 if op.attr("transB", 0) else 1
    if base == "MatMul":
        w = op.input(1)
        return (w.shape.rank - 1) if w is not None and w.shape is not None and w.shape.rank else None
    return None


def _t(*names: str, domain: str = "") -> tuple[tuple[str, str], ...]:
    return tuple((domain, n) for n in names)


BUILTIN_RULES: list[QuantRule] = [
    QuantRule(_t("Conv", "ConvTranspose", "Gemm") + _t("ConvAct", "ConvTransposeAct", "GemmAct", domain="qcompiler"),
              activations=(0,), weight=1, bias=2),
    QuantRule(_t("MatMul") + _t("MatMulAct", domain="qcompiler"), activations=(0,), weight=1),
    QuantRule(_t("Add", "Sub", "Mul", "Concat"), all_inputs=True),
    QuantRule(_t("AveragePool", "GlobalAveragePool", "ReduceMean", "LeakyRelu", "HardSwish", "Relu", "Clip", "Gelu")
              + _t("Gelu", domain="qcompiler")),
    QuantRule(_t("Softmax", "Sigmoid", "HardSigmoid"), fixed_range=(0.0, 1.0)),
    QuantRule(_t("Tanh"), fixed_range=(-1.0, 1.0)),
    QuantRule(_t("MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Resize",
                 "Upsample", "Pad", "Slice", "DepthToSpace", "SpaceToDepth", "GlobalMaxPool"),
              output=SHARE),
]  # fmt: skip


def rule_table(registry: Any = None) -> dict[tuple[str, str], tuple[QuantRule, str]]:
    """(domain, op_type) -> (rule, plugin); plugin rules replace built-in ones."""
    table: dict[tuple[str, str], tuple[QuantRule, str]] = {}
    for rule in BUILTIN_RULES:
        for key in rule.op_types:
            table[key] = (rule, "qcompiler")
    if registry is not None:
        claimed: dict[tuple[str, str], str] = {}
        for rule, plugin in registry.quant_rules:
            if rule in BUILTIN_RULES:
                continue
            for key in rule.op_types:
                if key in claimed and claimed[key] != plugin:
                    raise QCompilerError(f"quantization rule for {key[1]!r} is registered twice, by plugins "
                                         f"{claimed[key]!r} and {plugin!r}")  # fmt: skip
                claimed[key] = plugin
                table[key] = (rule, plugin)
    return table
