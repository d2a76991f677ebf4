"""The ``recognize-hardswish`` pass and its registration."""

from __future__ import annotations

from dataclasses import dataclass, field

from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Model
from qcompiler.pass_base import Pass, PassContext
from qcompiler.patterns import ActivationMatch, match_decomposed_hardswish, match_mul_hardsigmoid


@dataclass
class RecognizeHardSwishOptions:
    min_opset_for_hardswish: int = field(
        default=14, metadata={"help": "use the HardSwish op from this opset on"}
    )


class RecognizeHardSwishPass(Pass):
    name = "recognize-hardswish"
    description = "Replace the decomposed hard-swish x*clip(x+3,0,6)/6 by one HardSwish op."
    Options = RecognizeHardSwishOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        opset = model.opset_imports.get("", 1)
        use_op = opset >= self.options.min_opset_for_hardswish
        changed = False
        for op in list(model.graph.all_ops()):  # a snapshot: rewrites remove later ops
            if op.graph is None:  # removed by an earlier rewrite in this walk
                continue
            m = match_decomposed_hardswish(op)
            if not isinstance(m, ActivationMatch):
                m = match_mul_hardsigmoid(op) if not use_op else m
            if not isinstance(m, ActivationMatch) or (not use_op and len(m.ops) == 2):
                continue
            g = m.ops[-1].graph
            with g.inserting_before(m.ops[-1]) as b:
                if use_op:
                    y = b.op("HardSwish", m.x)
                else:
                    y = b.op("Mul", m.x, b.op("HardSigmoid", m.x, alpha=1.0 / 6.0, beta=0.5))
            y.type = m.output.type
            m.output.replace_all_uses_with(y)
            g.remove(m.ops)
            changed = True
        return changed


@hookimpl
def qcompiler_register_passes():
    return [RecognizeHardSwishPass]
