"""A third-party plugin adds a C kernel through qcompiler_register_c_kernels(): its lowering
runs before the built-in rules and its source lands in the generated folder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cbuild  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.codegen.c.kernel_api import CKernel  # noqa: E402
from qcompiler.codegen.c.program import c_float  # noqa: E402
from qcompiler.hookspecs import hookimpl  # noqa: E402
from qcompiler.registry import load_registry  # noqa: E402

HEADER = "#include <stdint.h>\nvoid ex_swish_f32(const float *x, float *y, int32_t n, float beta);\n"
KERNEL = r"""
#include "qc_kernels.h"
#include "ex_swish.h"
void ex_swish_f32(const float *x, float *y, int32_t n, float beta) {
    int32_t i;
    for (i = 0; i < n; ++i) y[i] = x[i] / (1.0f + expf(-beta * x[i]));
}
"""


def swish_model() -> onnx.ModelProto:
    node = helper.make_node("Swish", ["x"], ["y"], domain="example.ops", beta=1.5)
    g = helper.make_graph([helper.make_node("Relu", ["x0"], ["x"]), node], "g",
                          [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [1, 4, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5])])  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.ops", 1)])


@pytest.mark.skipif(not cbuild.have("host"), reason="no C compiler")
def test_plugin_kernel_is_lowered_copied_built_and_run(tmp_path):
    src = tmp_path / "ex_swish_f32.c"
    src.write_text(KERNEL)
    (tmp_path / "ex_swish.h").write_text(HEADER)

    def lower(lw, op):
        x = lw.f32(op.input(0))
        y = lw.out_view(op.output, "f32")
        beta = float(op.attr("beta", 1.0))
        lw.p.add(f"ex_swish_f32({lw.p.ptr(x)}, {lw.p.ptr(y)}, {x.size}, {c_float(beta)});", [x], [y],
                 ["ex_swish_f32"], op=op.name, what="Swish (plugin)")  # fmt: skip
        return True

    class Plugin:
        @staticmethod
        @hookimpl
        def qcompiler_register_c_kernels():
            return [CKernel("Swish", lower, {"ex_swish_f32": src}, [tmp_path / "ex_swish.h"], domain="example.ops")]

    reg = load_registry([Plugin()])
    out = tmp_path / "c"
    qcompiler.compile(swish_model(), str(out), backend="c", registry=reg, pipeline="",
                      options={"c_measure_flash": False})  # fmt: skip
    assert (out / "kernels" / "ex_swish_f32.c").read_text() == KERNEL
    cbuild.build(out, "host")
    x = np.linspace(-3, 3, 20, dtype=np.float32).reshape(1, 4, 5)
    y = cbuild.run(out, {"x0": x}, "host")["y"]
    r = np.maximum(x, 0).reshape(-1)
    np.testing.assert_allclose(y, r / (1 + np.exp(-1.5 * r)), rtol=1e-6, atol=1e-7)
    # without the plugin the same model is a one-line error naming the node
    with pytest.raises(qcompiler.errors.QCompilerError, match="Swish.*no C kernel"):
        qcompiler.compile(swish_model(), str(tmp_path / "d"), backend="c", pipeline="")
    assert not (tmp_path / "d").exists()


def test_plugin_must_return_ckernel_objects(tmp_path):
    class Bad:
        @staticmethod
        @hookimpl
        def qcompiler_register_c_kernels():
            return [("Swish", None)]

    reg = load_registry([Bad()])
    with pytest.raises(qcompiler.errors.QCompilerError, match="CKernel"):
        qcompiler.compile(swish_model(), str(tmp_path / "c"), backend="c", registry=reg, pipeline="")
