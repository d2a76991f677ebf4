"""Building ops at an insertion point.

Example::

    with graph.inserting_before(conv) as b:
        q = b.op("QuantizeLinear", x, scale, zp)
        dq = b.op("DequantizeLinear", q, scale, zp)
    conv.replace_input(0, dq)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qcompiler.ir.graph import Graph
from qcompiler.ir.ops import Op
from qcompiler.ir.types import ElementType, Type
from qcompiler.ir.values import Value

__all__ = ["Builder"]


class Builder:
    """Creates ops and inserts them at one point of a graph (the end, or before/after an op).

    Successive ops built with one builder appear in the order they were built.
    """

    __slots__ = ("graph", "_before", "_after")

    def __init__(self, graph: Graph, *, before: Op | None = None, after: Op | None = None):
        if before is not None and after is not None:
            raise ValueError("give either before= or after=, not both")
        self.graph = graph
        self._before = before
        self._after = after

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def insert(self, op: Op) -> Op:
        """Insert an already constructed op at the insertion point."""
        if self._before is not None:
            self.graph.insert_before(self._before, op)
        elif self._after is not None:
            self.graph.insert_after(self._after, op)
            self._after = op
        else:
            self.graph.append(op)
        return op

    def create(
        self,
        op_type: str,
        inputs: Sequence[Value | None],
        attrs: dict[str, Any] | None = None,
        *,
        domain: str = "",
        num_outputs: int = 1,
        output_types: Sequence[Type | None] | None = None,
        name: str = "",
    ) -> Op:
        """Create and insert an op; returns the op."""
        version = self.graph.opset(domain)
        op = Op(op_type, inputs, attrs, domain=domain, version=version, num_outputs=num_outputs,
                output_types=output_types, name=name)  # fmt: skip
        return self.insert(op)

    def op(
        self,
        op_type: str,
        *inputs: Value | None,
        domain: str = "",
        num_outputs: int = 1,
        output_types: Sequence[Type | None] | None = None,
        name: str = "",
        **attrs: Any,
    ) -> Any:
        """Create and insert an op; returns its result (a tuple when ``num_outputs > 1``)."""
        op = self.create(op_type, inputs, attrs, domain=domain, num_outputs=num_outputs,
                         output_types=output_types, name=name)  # fmt: skip
        return op.outputs[0] if num_outputs == 1 else op.outputs

    def const(self, array: Any, name: str = "const", elem: ElementType | None = None) -> Value:
        """Add a constant to the graph (constants are not ordered, so this needs no anchor)."""
        return self.graph.add_constant(np.asarray(array), name, elem=elem)
