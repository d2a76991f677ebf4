"""``qcompiler inspect``: ops, shapes, parameters and MACs per layer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from qcompiler.ir import Model, Op, Shape

__all__ = ["LayerInfo", "layer_table", "op_macs", "format_report"]


@dataclass
class LayerInfo:
    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    params: int
    macs: int


def _numel(shape: Shape | None) -> int | None:
    return None if shape is None else shape.numel()


def op_macs(op: Op) -> int:
    """Multiply-accumulates of one op (0 where unknown or not a MAC op)."""
    t = op.qualified_type
    out = op.outputs[0].shape if op.outputs else None
    n_out = _numel(out)
    if t in ("Conv", "qcompiler.ConvAct") and n_out:
        w = op.input(1)
        if w is None or w.shape is None or not w.shape.is_static:
            return 0
        dims = w.shape.static()
        return n_out * int(np.prod(dims[1:]))
    if t == "ConvTranspose":
        x, w = op.input(0), op.input(1)
        n_in = _numel(x.shape if x else None)
        if not n_in or w is None or w.shape is None or not w.shape.is_static:
            return 0
        dims = w.shape.static()
        return n_in * int(np.prod(dims[1:]))
    if t in ("Gemm", "MatMul") and n_out:
        a = op.input(0)
        if a is None or a.shape is None or a.shape.rank is None:
            return 0
        dims = a.shape.dims
        k = dims[0] if t == "Gemm" and op.attr("transA", 0) else dims[-1]
        return n_out * k if isinstance(k, int) else 0
    return 0


def layer_table(model: Model) -> list[LayerInfo]:
    rows = []
    for op in model.graph.all_ops():
        params = sum(int(v.const.size) for v in op.inputs if v is not None and v.is_constant)
        rows.append(LayerInfo(
            op.name or op.outputs[0].name if op.outputs else op.op_type,
            op.qualified_type,
            [str(v.type) if v is not None and v.type is not None else "?" for v in op.inputs if v is not None],
            [str(o.type) if o.type is not None else "?" for o in op.outputs],
            params,
            op_macs(op),
        ))  # fmt: skip
    return rows


def format_report(model: Model, label: str) -> str:
    rows = layer_table(model)
    g = model.graph
    lines = [f"model: {label}"]
    lines.append("opsets: " + ", ".join(f"{d or 'ai.onnx'}={v}" for d, v in sorted(model.opset_imports.items())))  # noqa: E501
    for v in g.inputs:
        lines.append(f"input  {v.name}: {v.type}")
    for v in g.outputs:
        lines.append(f"output {v.name}: {v.type}")
    total_params = sum(int(c.const.size) for c in g.constants)
    total_macs = sum(r.macs for r in rows)
    counts = Counter(r.op_type for r in rows)
    lines.append(f"ops: {len(rows)} ({', '.join(f'{k} {n}' for k, n in sorted(counts.items()))})")
    lines.append(f"parameters: {total_params:,}")
    lines.append(f"MACs: {total_macs:,}")
    lines.append("")
    w = max([len(r.name) for r in rows] + [5])
    tw = max([len(r.op_type) for r in rows] + [4])
    lines.append(f"{'layer':<{w}}  {'type':<{tw}}  {'params':>10}  {'MACs':>14}  output")
    for r in rows:
        lines.append(f"{r.name:<{w}}  {r.op_type:<{tw}}  {r.params:>10,}  {r.macs:>14,}  {', '.join(r.outputs)}")  # noqa: E501
    return "\n".join(lines) + "\n"
