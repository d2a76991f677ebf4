"""``upgrade-opset``: raise the model's ONNX opset (onnx's version converter).

Quantized models need opset 10 for QuantizeLinear/DequantizeLinear and 13 for per-channel
scales; the full-quantization pipeline runs this first.  A model already at or above the
target is left alone.  Control flow, contrib ops and other domains are carried through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx
from onnx import version_converter

from qcompiler.errors import ModelLoadError
from qcompiler.ir import Model
from qcompiler.pass_base import Pass, PassContext

__all__ = ["UpgradeOpsetPass", "replace_model"]


@dataclass
class UpgradeOptions:
    opset: int = field(default=13, metadata={"help": "the lowest ONNX opset the model should have"})


def replace_model(model: Model, new: Model) -> None:
    """Make ``model`` hold ``new``'s graph and model-level data (passes change models in place)."""
    model.graph = new.graph
    new.graph.model = model
    model.opset_imports = dict(new.opset_imports)
    model.ir_version = max(model.ir_version, new.ir_version)


class UpgradeOpsetPass(Pass):
    name = "upgrade-opset"
    description = "Raise the model's ONNX opset with onnx's version converter (default 13)."
    Options = UpgradeOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        current = model.opset_imports.get("", 1)
        if current >= self.options.opset:
            return False
        from qcompiler.codegen.onnx_backend import ir_to_proto
        from qcompiler.frontend.onnx_frontend import proto_to_ir

        proto = ir_to_proto(model)
        try:
            converted = version_converter.convert_version(proto, self.options.opset)
        except Exception as e:  # noqa: BLE001 - the converter raises plain RuntimeErrors
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelLoadError(f"cannot convert the model from opset {current} to {self.options.opset}: {first}") from e
        converted.ir_version = max(converted.ir_version, 7)
        converted = onnx.shape_inference.infer_shapes(converted)
        new = proto_to_ir(converted)
        new.meta.update(model.meta)
        replace_model(model, new)
        return True
