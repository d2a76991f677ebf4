"""The code in the specs runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from conftest import run_ort
from corpus import good_models, model_path

import qcompiler
from qcompiler.hookspecs import hookimpl
from qcompiler.registry import load_registry

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_ir_spec_pass_example_runs(tmp_path):
    text = (SPECS / "ir.md").read_text()
    code = re.search(r"## Writing a pass\n\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "specs/ir.md", "exec"), namespace)

    class Plugin:
        @staticmethod
        @hookimpl
        def qcompiler_register_passes():
            return [namespace["ReluToClipPass"]]

    reg = load_registry([Plugin()])
    src = model_path(next(e for e in good_models() if e["name"] == "op_relu"))
    out = tmp_path / "o.onnx"
    res = qcompiler.compile(str(src), str(out), pipeline="relu-to-clip{max_value=0.5}", registry=reg,
                            verify_each=True)
    assert [op.op_type for op in res.model.graph] == ["Clip"]
    x = np.linspace(-2, 2, 256, dtype=np.float32).reshape(1, 4, 8, 8)
    np.testing.assert_array_equal(run_ort(out, {"x": x})[0], np.clip(x, 0, 0.5))


def test_plugin_spec_lists_every_hook():
    from qcompiler import hookspecs

    text = (SPECS / "plugin-api.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith("qcompiler_")]
    assert len(hooks) >= 9
    for name in hooks:
        assert f"`{name}()`" in text, name
