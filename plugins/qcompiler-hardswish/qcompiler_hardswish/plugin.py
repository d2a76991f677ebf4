"""The ``recognize-hardswish`` pass and its registration.

The pass is one rewrite rule: :func:`match_hardswish` (the pattern and its checks: a match, or
the reason it does not apply) and :func:`rewrite_hardswish`.  It runs over every graph of the
model, control-flow bodies included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qcompiler.errors import PipelineError
from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Model, Op
from qcompiler.pass_base import Pass, PassContext
from qcompiler.patterns import ActivationMatch, match_decomposed_hardswish, match_mul_hardsigmoid

__all__ = ["RecognizeHardSwishPass", "RecognizeHardSwishOptions", "match_hardswish", "rewrite_hardswish"]

#: The ONNX opset that introduced ``HardSwish``.
HARDSWISH_OPSET = 14


@dataclass
class RecognizeHardSwishOptions:
    min_opset_for_hardswish: int = field(
        default=HARDSWISH_OPSET, metadata={"help": "use the HardSwish op from this opset on"}
    )

    def __post_init__(self) -> None:
        if self.min_opset_for_hardswish < HARDSWISH_OPSET:
            raise PipelineError(
                f"pass 'recognize-hardswish': min_opset_for_hardswish={self.min_opset_for_hardswish} "
                f"is below {HARDSWISH_OPSET}, the first ONNX opset with HardSwish (allowed: >= 14)"
            )


def match_hardswish(op: Op, use_op: bool) -> ActivationMatch | str:
    """A decomposed hard-swish starting at ``op`` that has a shorter form, or why not.

    ``x*clip(x+3,0,6)/6`` (any variant :func:`qcompiler.patterns.match_decomposed_hardswish`
    accepts) always has one; ``x*HardSigmoid(x)`` only when the HardSwish op can be used.
    """
    m = match_decomposed_hardswish(op)
    if isinstance(m, str) and use_op:
        m = match_mul_hardsigmoid(op)
    if isinstance(m, str):
        return m
    if any(o.graph is not op.graph for o in m.ops):
        return "the hard-swish spans nested graphs"
    return m


def rewrite_hardswish(m: ActivationMatch, use_op: bool) -> None:
    """``HardSwish(x)``, or ``Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))``, named like the
    last op replaced; the result keeps the replaced result's tensor name."""
    last = m.ops[-1]
    g = last.graph
    with g.inserting_before(last) as b:
        if use_op:
            y = b.op("HardSwish", m.x, name=last.name)
        else:
            y = b.op("Mul", m.x, b.op("HardSigmoid", m.x, alpha=1.0 / 6.0, beta=0.5), name=last.name)
    y.type = m.output.type
    name = m.output.name
    m.output.replace_all_uses_with(y)
    g.remove(m.ops)
    if y.name != name and name not in g.names:
        g.rename(y, name)


class RecognizeHardSwishPass(Pass):
    name = "recognize-hardswish"
    description = "Replace the decomposed hard-swish x*clip(x+3,0,6)/6 by one HardSwish op."
    Options = RecognizeHardSwishOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        use_op = model.opset_imports.get("", 1) >= self.options.min_opset_for_hardswish
        changed = False
        for op in list(model.graph.all_ops()):  # a snapshot: rewrites remove later ops
            if op.graph is None:  # removed by an earlier rewrite in this walk
                continue
            m = match_hardswish(op, use_op)
            if isinstance(m, ActivationMatch):
                rewrite_hardswish(m, use_op)
                changed = True
        return changed


@hookimpl
def qcompiler_register_passes():
    return [RecognizeHardSwishPass]
