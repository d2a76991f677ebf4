"""The qcompiler IR: a typed SSA graph of ops with first-class quantized types.

See ``specs/ir.md`` for the invariants and how to write a pass.
"""

from qcompiler.ir.builder import Builder
from qcompiler.ir.graph import Graph, Model, NameTable
from qcompiler.ir.ops import ONNX_DOMAIN, QC_DOMAIN, Attr, AttrKind, Op
from qcompiler.ir.printer import format_op, print_graph, print_model
from qcompiler.ir.types import DType, OpaqueType, QuantType, Shape, TensorType
from qcompiler.ir.values import Value
from qcompiler.ir.verifier import collect_problems, verify

__all__ = [
    "Attr", "AttrKind", "Builder", "DType", "Graph", "Model", "NameTable", "ONNX_DOMAIN", "Op",
    "OpaqueType", "QC_DOMAIN", "QuantType", "Shape", "TensorType", "Value", "collect_problems",
    "format_op", "print_graph", "print_model", "verify",
]  # fmt: skip
