"""Pipelines as text, the pass manager's instrumentation, and error attribution."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from corpus import good_models, model_path

import qcompiler
from qcompiler.errors import PassError, PipelineError
from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Op
from qcompiler.pass_base import Pass
from qcompiler.pipeline import parse_pipeline
from qcompiler.registry import load_registry

MODEL = str(model_path(next(e for e in good_models() if e["name"] == "op_conv")))


@dataclass
class TypedOptions:
    flag: bool = False
    count: int = 3
    ratio: float = 0.5
    names: list[str] = field(default_factory=list)


class TypedPass(Pass):
    name = "typed"
    description = "Options of every kind; changes nothing."
    Options = TypedOptions

    def run(self, model, ctx):
        ctx.state["seen"] = self.options
        return False


class BreaksIR(Pass):
    name = "breaks-ir"
    description = "Appends an op reading an undefined value."

    def run(self, model, ctx):
        from qcompiler.ir import Value

        model.graph.append(Op("Neg", [Value("ghost")]))
        return True


class Crashes(Pass):
    name = "crashes"
    description = "Raises."

    def run(self, model, ctx):
        raise RuntimeError("boom")


class BadReturn(Pass):
    name = "bad-return"
    description = "Returns a non-bool."

    def run(self, model, ctx):
        return None


class TestPlugin:
    @staticmethod
    @hookimpl
    def qcompiler_register_passes():
        return [TypedPass, BreaksIR, Crashes, BadReturn]


@pytest.fixture(scope="module")
def reg():
    return load_registry([TestPlugin()])


def test_parse_and_print_round_trip(reg):
    text = "typed{flag=true,count=7,ratio=0.25,names=[a,b]},fold-constants,typed"
    p = parse_pipeline(text, reg)
    assert str(p) == text
    assert str(parse_pipeline(str(p), reg)) == str(p)
    opts = p.entries[0].options
    assert opts.flag is True and opts.count == 7 and opts.ratio == 0.25 and opts.names == ["a", "b"]
    assert str(parse_pipeline("typed{count=3}", reg)) == "typed"  # defaults are not printed
    assert len(parse_pipeline("", reg)) == 0


@pytest.mark.parametrize("text, needle", [
    ("nope", "unknown pass 'nope'"),
    ("typed{colour=1}", "has no option 'colour'"),
    ("typed{count=x}", "must be an integer"),
    ("typed{flag=maybe}", "true or false"),
    ("typed{count=1,count=2}", "given twice"),
    ("typed count", "not a pass name"),
])
def test_pipeline_errors(reg, text, needle):
    with pytest.raises(PipelineError, match=needle):
        parse_pipeline(text, reg)


def test_verify_each_names_the_pass_and_plugin(reg, tmp_path):
    with pytest.raises(PassError, match=r"pass 'breaks-ir' \(plugin '.*TestPlugin.*'\) left invalid IR"):
        qcompiler.compile(MODEL, str(tmp_path / "o.onnx"), pipeline="breaks-ir", verify_each=True, registry=reg)
    assert not (tmp_path / "o.onnx").exists()


def test_crash_is_attributed_and_reproducer_written(reg, tmp_path):
    dump = tmp_path / "dump"
    with pytest.raises(PassError, match=r"pass 'crashes' \(plugin .*\) failed: RuntimeError: boom; reproducer"):
        qcompiler.compile(MODEL, str(tmp_path / "o.onnx"), pipeline="fold-constants,crashes", registry=reg,
                          dump_dir=dump)
    repro = (dump / "reproducer.txt").read_text()
    assert "--pipeline 'crashes'" in repro and "01-fold-constants.onnx" in repro
    assert (dump / "01-fold-constants.onnx").exists()


def test_pass_must_return_bool(reg, tmp_path):
    with pytest.raises(PassError, match="must return a bool"):
        qcompiler.compile(MODEL, None, pipeline="bad-return", registry=reg)


def test_options_reach_the_pass(reg):
    res = qcompiler.compile(MODEL, None, pipeline="typed{names=[x]}", registry=reg)
    assert res.context.state["seen"].names == ["x"]
    assert [r.name for r in res.records] == ["typed"] and res.records[0].changed is False


def test_duplicate_pass_names_are_an_error():
    class Dup:
        @staticmethod
        @hookimpl
        def qcompiler_register_passes():
            class Other(Pass):
                name = "fold-constants"

                def run(self, model, ctx):
                    return False

            return [Other]

    with pytest.raises(Exception, match="registered twice"):
        load_registry([Dup()])
