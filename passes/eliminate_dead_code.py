"""``eliminate-dead-code``: remove ops whose results nobody reads, and unused constants."""

from __future__ import annotations

from dataclasses import dataclass, field

from qcompiler.ir import Graph, Model
from qcompiler.pass_base import Pass, PassContext

__all__ = ["EliminateDeadCodePass"]


@dataclass
class DceOptions:
    remove_unused_inputs: bool = field(
        default=False, metadata={"help": "also drop graph inputs nothing reads (changes the API)"}
    )


def eliminate_dead_code(g: Graph, remove_unused_inputs: bool = False) -> int:
    """Remove dead ops (walking backwards, so whole dead chains go in one sweep)."""
    removed = 0
    for op in reversed(g):
        for sub in op.regions():
            removed += eliminate_dead_code(sub)
        if not any(o.has_uses() for o in op.outputs):
            g.remove(op)
            removed += 1
    for c in list(g.constants):
        if not c.has_uses():
            g.remove_constant(c)
            removed += 1
    if remove_unused_inputs and g.parent is None:
        for v in list(g.inputs):
            if not v.has_uses():
                g.inputs.remove(v)
                v._owner = None
                removed += 1
    return removed


class EliminateDeadCodePass(Pass):
    name = "eliminate-dead-code"
    description = "Remove ops whose results are never read, and unused constants."
    Options = DceOptions
    preserves = ("types",)

    def run(self, model: Model, ctx: PassContext) -> bool:
        return eliminate_dead_code(model.graph, self.options.remove_unused_inputs) > 0
