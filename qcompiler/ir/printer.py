"""A deterministic text form of the IR, for dumps, docstrings and test failures.

Example output::

    graph main(%x: f32[1,3,8,8]) {
      const %w: f32[4,3,3,3]
      %y = Conv(%x, %w) {kernel_shape=[3,3], pads=[1,1,1,1]} : f32[1,4,8,8]  # conv0
      return %y
    }
"""

from __future__ import annotations

import numpy as np

from qcompiler.ir.graph import Graph, Model
from qcompiler.ir.ops import Attr, AttrKind, Op

__all__ = ["print_model", "print_graph", "format_op"]


def _fmt_attr(a: Attr) -> str:
    if a.kind == AttrKind.TENSOR:
        arr = np.asarray(a.value)
        if arr.size <= 8:
            return f"tensor<{arr.dtype}>{arr.tolist()}"
        return f"tensor<{arr.dtype}{list(arr.shape)}>"
    if a.kind in (AttrKind.GRAPH, AttrKind.GRAPHS):
        graphs = a.graphs()
        return "<" + ",".join(g.name for g in graphs) + ">"
    if a.kind in (AttrKind.FLOATS, AttrKind.INTS, AttrKind.STRINGS):
        return "[" + ",".join(repr(v) if isinstance(v, (str, bytes)) else f"{v:g}" if isinstance(v, float) else str(v) for v in a.value) + "]"  # noqa: E501
    if a.kind == AttrKind.FLOAT:
        return f"{a.value:g}"
    if a.kind == AttrKind.STRING:
        return repr(a.value)
    if a.kind in (AttrKind.TYPE_PROTO, AttrKind.SPARSE_TENSOR, AttrKind.TYPE_PROTOS,
                  AttrKind.SPARSE_TENSORS):  # fmt: skip
        return f"<{a.kind.name.lower()}>"
    return str(a.value)


def format_op(op: Op) -> str:
    """One line for ``op`` (without nested graphs)."""
    outs = ", ".join(f"%{o.name}" for o in op.outputs)
    ins = ", ".join("_" if v is None else f"%{v.name}" for v in op.inputs)
    head = op.qualified_type
    if op.version is not None and op.domain not in ("", "ai.onnx"):
        head += f"<{op.version}>"
    attrs = ""
    if op.attrs:
        attrs = " {" + ", ".join(f"{k}={_fmt_attr(op.attrs[k])}" for k in sorted(op.attrs)) + "}"
    types = ", ".join(str(o.type) if o.type is not None else "?" for o in op.outputs)
    name = f"  # {op.name}" if op.name else ""
    return f"{outs} = {head}({ins}){attrs} : {types}{name}"


def print_graph(graph: Graph, indent: int = 0) -> str:
    pad = "  " * indent
    args = ", ".join(f"%{v.name}: {v.type}" for v in graph.inputs)
    lines = [f"{pad}graph {graph.name}({args}) {{"]
    for c in graph.constants:
        lines.append(f"{pad}  const %{c.name}: {c.type}")
    for op in graph:
        lines.append(f"{pad}  {format_op(op)}")
        for key in sorted(op.attrs):
            for sub in op.attrs[key].graphs():
                lines.append(f"{pad}    {key}:")
                lines.append(print_graph(sub, indent + 3))
    lines.append(f"{pad}  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append(f"{pad}}}")
    return "\n".join(lines)


def print_model(model: Model) -> str:
    """The whole model as text (deterministic: same IR, same text)."""
    opsets = ", ".join(f"{d or 'ai.onnx'}={v}" for d, v in sorted(model.opset_imports.items()))
    return f"model opsets({opsets})\n" + print_graph(model.graph) + "\n"
