"""The IR verifier: SSA, types, topological order and use-def consistency.

Each message names the value or op at fault and says what usually fixes it.
"""

from __future__ import annotations

import numpy as np

from qcompiler.errors import VerificationError
from qcompiler.ir.graph import Graph, Model
from qcompiler.ir.ops import Op
from qcompiler.ir.types import DType, QuantType, TensorType
from qcompiler.ir.values import Value

__all__ = ["verify", "collect_problems"]


def _where(op: Op) -> str:
    return f"op {op.name or op.op_type!r} ({op.qualified_type})"


def _check_constant(v: Value, problems: list[str]) -> None:
    t = v.type
    if not isinstance(t, TensorType):
        problems.append(f"constant %{v.name} has no tensor type; give it TensorType(...)")
        return
    arr = np.asarray(v.const)
    if t.shape.dims is not None and tuple(t.shape.dims) != arr.shape:
        problems.append(f"constant %{v.name}: type shape {t.shape} != data shape {list(arr.shape)};"
                        " create constants with Graph.add_constant")  # fmt: skip
    storage = t.dtype
    if storage not in (DType.INT4, DType.UINT4, DType.INT2, DType.UINT2) and storage.numpy() != arr.dtype:  # noqa: E501
        problems.append(f"constant %{v.name}: type {storage.name} but data is {arr.dtype}")
    q = t.quant
    if isinstance(q, QuantType) and arr.size:
        lo, hi = q.qrange()
        if arr.min() < lo or arr.max() > hi:
            problems.append(f"constant %{v.name}: values outside the {q.bits}-bit range [{lo}, {hi}]")


def _verify_graph(g: Graph, outer: tuple[dict[Value, None], ...], names: dict[str, Value],
                  problems: list[str]) -> None:  # fmt: skip
    """Check ``g``; ``outer`` is the chain of enclosing scopes (never copied: linear time)."""
    local: dict[Value, None] = {}  # ordered, so messages come in a deterministic order
    chain = (*outer, local)

    def visible(v: Value) -> bool:
        return any(v in s for s in chain)

    def define(v: Value, what: str) -> None:
        other = names.get(v.name)
        if other is not None and other is not v:
            problems.append(f"name {v.name!r} is defined twice ({what}); give values unique names")
        names[v.name] = v
        if visible(v):
            problems.append(f"value %{v.name} is defined twice ({what})")
        local[v] = None

    for v in g.inputs:
        if v.type is None and g.parent is None:
            problems.append(f"graph input %{v.name} has no type")
        define(v, "graph input")
    for c in g.constants:
        _check_constant(c, problems)
        define(c, "constant")
    count = 0
    prev = None
    for op in g:
        count += 1
        if op.graph is not g:
            problems.append(f"{_where(op)} is linked into graph {g.name!r} but op.graph is wrong")
        if op.prev is not prev:
            problems.append(f"{_where(op)}: broken op list links")
        prev = op
        for i, v in enumerate(op.inputs):
            if v is None:
                continue
            if not visible(v):
                p = v.producer()
                if p is not None and p.graph is None:
                    problems.append(f"{_where(op)} input {i} reads %{v.name}, whose producer was "
                                    "removed; replace the use before removing its producer")  # fmt: skip
                else:
                    problems.append(f"{_where(op)} input {i} reads %{v.name} before it is defined"
                                    " (ops out of topological order, or a dangling value)")  # fmt: skip
            if (op, i) not in v._uses:
                problems.append(f"{_where(op)} input {i}: %{v.name} does not list this use; "
                                "change inputs with Op.replace_input only")  # fmt: skip
        for sub in op.regions():
            if sub.parent is not op:
                problems.append(f"{_where(op)}: nested graph {sub.name!r} has a wrong parent")
            _verify_graph(sub, chain, names, problems)
        for i, out in enumerate(op.outputs):
            if out.producer() is not op or out.index != i:
                problems.append(f"{_where(op)} output {i} (%{out.name}) has a wrong producer")
            if not out.name:
                problems.append(f"{_where(op)} output {i} has no name")
            define(out, f"output of {_where(op)}")
    if count != len(g):
        problems.append(f"graph {g.name!r}: op count {len(g)} but {count} ops linked")
    for v in local:
        for user, idx in v._uses:
            if user.graph is None:
                problems.append(f"%{v.name} is still used by removed {_where(user)} input {idx}; "
                                "call op.detach() on ops you drop")  # fmt: skip
            elif user.input(idx) is not v:
                problems.append(f"%{v.name} lists a stale use by {_where(user)} input {idx}")
    for i, v in enumerate(g.outputs):
        if not visible(v):
            problems.append(f"graph {g.name!r} output {i} (%{v.name}) is not defined in the graph")
        if g not in v._output_of:
            problems.append(f"graph {g.name!r} output %{v.name} does not know it is an output;"
                            " use Graph.set_output")  # fmt: skip


def collect_problems(model: Model | Graph) -> list[str]:
    """Every invariant violation found, as messages (empty when the IR is well formed)."""
    from qcompiler.utils import paused_gc

    graph = model.graph if isinstance(model, Model) else model
    problems: list[str] = []
    with paused_gc():
        _verify_graph(graph, (), {}, problems)
    if isinstance(model, Model):
        for op in graph.all_ops():
            want = model.opset_imports.get("" if op.domain == "ai.onnx" else op.domain)
            if want is None:
                problems.append(f"{_where(op)}: domain {op.domain!r} is not imported by the model;"
                                " add it to model.opset_imports")  # fmt: skip
    return problems


def verify(model: Model | Graph) -> None:
    """Raise :class:`VerificationError` with the first problems found (one line)."""
    problems = collect_problems(model)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise VerificationError(f"invalid IR: {problems[0]}{more}")
