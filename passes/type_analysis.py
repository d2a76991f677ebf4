"""The ``types`` analysis: every value gets its element type and shape (onnx inference)."""

from __future__ import annotations

from qcompiler.ir import Model
from qcompiler.pass_base import Analysis, PassContext

__all__ = ["TypesAnalysis"]


class TypesAnalysis(Analysis):
    name = "types"
    description = "Infer element types and shapes of all values (onnx shape inference)."

    def compute(self, model: Model, ctx: PassContext) -> bool:
        from qcompiler.codegen.onnx_backend import infer_types

        infer_types(model, refresh=True)
        return True
