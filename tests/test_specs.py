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


def test_plugin_spec_analysis_example_runs():
    import types

    text = (SPECS / "plugin-api.md").read_text()
    code = re.search(r"## Analyses\n\n.*?```python\n(.*?)```", text, re.S).group(1)
    plugin = types.ModuleType("spec_analysis_plugin")
    exec(compile(code, "specs/plugin-api.md", "exec"), plugin.__dict__)
    reg = load_registry([plugin])
    assert reg.passes["report-convs"][1] == "spec_analysis_plugin"
    src = model_path(next(e for e in good_models() if e["name"] == "pt_resnet_tiny"))
    res = qcompiler.compile(str(src), None, pipeline="report-convs,eliminate-dead-code,report-convs", registry=reg)
    import onnx

    convs = sum(n.op_type == "Conv" for n in onnx.load(str(src)).graph.node)
    assert convs > 0 and res.warnings == [f"{convs} convolutions"]


def test_plugin_spec_pipeline_example_parses():
    from qcompiler.driver import default_registry
    from qcompiler.pipeline import parse_pipeline

    text = (SPECS / "plugin-api.md").read_text()
    example = re.search(r"declaration order\) and parsing it gives an equal pipeline:\n\n```\n(.*?)\n```", text,
                        re.S).group(1)  # fmt: skip
    p = parse_pipeline(example, default_registry())
    assert str(p) == example and parse_pipeline(str(p), default_registry()) == p
