"""``honor-skip-nodes``: mark the ops to keep float (``op.meta["skip_quant"]``).

Sources: ``skip_quant_node`` names (exact, or globs such as ``conv2d_*``), op types
(``skip_op_type``), and Paddle's ``skip_quant`` name scopes (``skip_quant_scope``: node names
starting with ``scope/`` or containing ``/scope/``).  Fused ops answer to the names of the ops
they were fused from.  A name that matches nothing is a warning naming it.  The other passes
leave marked ops alone, so quantize/dequantize only appear at their borders.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from qcompiler.ir import Model, Op
from qcompiler.pass_base import Pass, PassContext

__all__ = ["HonorSkipNodesPass"]


@dataclass
class SkipOptions:
    skip_nodes: list[str] = field(default_factory=list, metadata={"help": "node names or globs kept float"})
    skip_op_types: list[str] = field(default_factory=list, metadata={"help": "op types kept float"})
    skip_scopes: list[str] = field(default_factory=list, metadata={"help": "name scopes kept float"})
    use_config: bool = field(default=True, metadata={"help": "add the config's skip lists"})


def _names(op: Op) -> list[str]:
    return [n for n in [op.name, *op.meta.get("fused_names", []), *(o.name for o in op.outputs)] if n]


class HonorSkipNodesPass(Pass):
    name = "honor-skip-nodes"
    description = "Mark nodes named by skip_quant_node (exact or glob), skipped op types and scopes to stay float."
    Options = SkipOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        nodes, types, scopes = list(self.options.skip_nodes), set(self.options.skip_op_types), list(self.options.skip_scopes)
        cfg = ctx.config
        if cfg is not None and self.options.use_config:
            nodes += list(cfg.get("common_quant_param", "skip_quant_node"))
            types |= set(cfg.get("full_quant_param", "skip_op_type"))
            scopes += list(cfg.get("full_quant_param", "skip_quant_scope"))
        matched: set[str] = set()
        changed = False
        for op in model.graph.all_ops():
            base = op.op_type[:-3] if op.domain == "qcompiler" and op.op_type.endswith("Act") else op.op_type
            reason = None
            if base in types or op.op_type in types:
                reason = f"op type {base}"
            for pattern in nodes:
                if any(fnmatch.fnmatchcase(n, pattern) for n in _names(op)):
                    matched.add(pattern)
                    reason = reason or f"skip_quant_node {pattern}"
            for scope in scopes:
                s = scope.strip("/")
                if op.name.startswith(s + "/") or f"/{s}/" in op.name:
                    matched.add(scope)
                    reason = reason or f"skip_quant scope {scope}"
            if reason and not op.meta.get("skip_quant"):
                op.meta["skip_quant"] = reason
                changed = True
        for pattern in dict.fromkeys(nodes + scopes):
            if pattern not in matched:
                ctx.warn(f"skip_quant_node {pattern!r} matches no node in the model")
        return changed
