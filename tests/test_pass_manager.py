"""The pass manager: instrumentation, analyses, and attributing failures to a pass and plugin."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from corpus import good_models, model_path

import qcompiler
from qcompiler.errors import ConfigError, PassError, QCompilerError
from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Op, Value
from qcompiler.pass_base import Analysis, Pass, PassContext
from qcompiler.pass_manager import Instrumentation, PassManager
from qcompiler.pipeline import parse_pipeline
from qcompiler.registry import load_registry

MODEL = str(model_path(next(e for e in good_models() if e["name"] == "op_conv")))


@dataclass
class RecordOptions:
    names: list[str] = field(default_factory=list)


class Record(Pass):
    name = "record"
    description = "Records its options; changes nothing."
    Options = RecordOptions

    def run(self, model, ctx):
        ctx.state.setdefault("seen", []).append(list(self.options.names))
        return False


class BreaksIR(Pass):
    name = "breaks-ir"
    description = "Appends an op reading a value nothing defines."

    def run(self, model, ctx):
        model.graph.append(Op("Neg", [Value("ghost")]))
        return True


class Crashes(Pass):
    name = "crashes"
    description = "Raises a plain exception."

    def run(self, model, ctx):
        raise RuntimeError("boom\nsecond line")


class UserError(Pass):
    name = "user-error"
    description = "Raises a QCompilerError about the user's input."

    def run(self, model, ctx):
        raise ConfigError("key 'bits' must be 2..16, got 99")


class BadReturn(Pass):
    name = "bad-return"
    description = "Returns a non-bool."

    def run(self, model, ctx):
        return None


class OpCount(Analysis):
    name = "op-count"
    description = "Number of ops (counts how often it is computed)."

    def compute(self, model, ctx):
        ctx.state["computed"] = ctx.state.get("computed", 0) + 1
        return len(model.graph)


class NeedsCount(Pass):
    name = "needs-count"
    description = "Requires op-count and preserves it."
    requires = ("op-count",)
    preserves = ("op-count",)

    def run(self, model, ctx):
        ctx.state.setdefault("counts", []).append(ctx.get_analysis("op-count", model))
        return True


class Mutates(Pass):
    name = "mutates"
    description = "Says it changed the model, preserving nothing."

    def run(self, model, ctx):
        return True


class TestPlugin:
    @staticmethod
    @hookimpl
    def qcompiler_register_passes():
        return [Record, BreaksIR, Crashes, UserError, BadReturn, NeedsCount, Mutates]

    @staticmethod
    @hookimpl
    def qcompiler_register_analyses():
        return [OpCount]


@pytest.fixture(scope="module")
def reg():
    return load_registry([TestPlugin()])


def test_verify_each_names_the_pass_and_plugin(reg, tmp_path):
    with pytest.raises(PassError, match=r"^pass 'breaks-ir' \(plugin 'TestPlugin'\) left invalid IR: .*ghost"):
        qcompiler.compile(MODEL, str(tmp_path / "o.onnx"), pipeline="fold-constants,breaks-ir,eliminate-dead-code",
                          verify_each=True, registry=reg)
    assert list(tmp_path.iterdir()) == []


def test_without_verify_each_the_final_check_still_refuses(reg, tmp_path):
    with pytest.raises(QCompilerError, match="ghost"):
        qcompiler.compile(MODEL, str(tmp_path / "o.onnx"), pipeline="breaks-ir", registry=reg)
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.onnx"
    old.write_bytes(b"previous output")
    with pytest.raises(QCompilerError, match="ghost"):
        qcompiler.compile(MODEL, str(old), pipeline="breaks-ir", registry=reg)
    assert old.read_bytes() == b"previous output" and list(tmp_path.iterdir()) == [old]


def test_crash_is_attributed_and_reproducer_written(reg, tmp_path):
    dump = tmp_path / "dump"
    with pytest.raises(PassError) as info:
        qcompiler.compile(MODEL, str(tmp_path / "o.onnx"), pipeline="fold-constants,crashes,eliminate-dead-code",
                          registry=reg, dump_dir=dump)
    msg = str(info.value)
    assert msg.startswith("pass 'crashes' (plugin 'TestPlugin') failed: RuntimeError: boom; reproducer in ")
    assert "\n" not in msg and isinstance(info.value.__cause__, RuntimeError)
    repro = (dump / "reproducer.txt").read_text()
    assert "--pipeline 'crashes,eliminate-dead-code'" in repro and "01-fold-constants.onnx" in repro
    assert (dump / "01-fold-constants.onnx").exists() and not (tmp_path / "o.onnx").exists()


def test_builtin_pass_failures_name_the_builtin_plugin(reg, tmp_path):
    entry = parse_pipeline("fold-constants", reg).entries[0]
    assert entry.plugin == "qcompiler:builtin-passes"


def test_user_errors_keep_their_type_and_gain_the_pass_name(reg):
    with pytest.raises(ConfigError, match=r"^user-error: key 'bits' must be 2\.\.16, got 99$"):
        qcompiler.compile(MODEL, None, pipeline="user-error", registry=reg)


def test_pass_must_return_bool(reg):
    with pytest.raises(PassError, match=r"pass 'bad-return' returned None; run\(\) must return a bool"):
        qcompiler.compile(MODEL, None, pipeline="bad-return", registry=reg)


def test_options_reach_the_pass_and_records_are_kept(reg):
    res = qcompiler.compile(MODEL, None, pipeline="record{names=[x,y]},record", registry=reg)
    assert res.context.state["seen"] == [["x", "y"], []]
    assert [(r.name, r.plugin, r.changed) for r in res.records] == [("record", "TestPlugin", False)] * 2


def test_analyses_are_cached_and_invalidated(reg):
    res = qcompiler.compile(MODEL, None, pipeline="needs-count,needs-count,mutates,needs-count", registry=reg)
    # computed for the first pass, kept by the second (preserved), recomputed after 'mutates'
    assert res.context.state["computed"] == 2
    assert res.context.state["counts"] == [1, 1, 1]


def test_time_passes_table_lists_every_pass(reg):
    stream = io.StringIO()
    pipeline = parse_pipeline("fold-constants,record,needs-count,eliminate-dead-code", reg)
    ir = qcompiler.load_model(MODEL)
    PassManager(pipeline, Instrumentation(time_passes=True, stream=stream)).run(ir, PassContext(registry=reg))
    rows = stream.getvalue().splitlines()
    assert rows[0].split()[:3] == ["pass", "time", "(ms)"]
    assert [r.split()[0] for r in rows[1:]] == ["fold-constants", "record", "needs-count", "eliminate-dead-code",
                                                 "total"]
    record_row = rows[2].split()
    assert record_row[3] == "no" and record_row[4] == "1->1"  # changed?  ops before->after
    total = float(rows[-1].split()[1])
    assert total >= max(float(r.split()[1]) for r in rows[1:-1])


def test_print_ir_after_in_process(reg):
    stream = io.StringIO()
    pipeline = parse_pipeline("fold-constants,record,eliminate-dead-code", reg)
    ir = qcompiler.load_model(MODEL)
    PassManager(pipeline, Instrumentation(print_ir_after=frozenset({"record"}), stream=stream)).run(
        ir, PassContext(registry=reg))
    text = stream.getvalue()
    assert text.startswith("// IR after record\nmodel opsets(") and text.count("// IR after") == 1


def test_print_ir_after_accepts_a_plain_string(reg, capsys):
    qcompiler.compile(MODEL, None, pipeline="fold-constants,record", print_ir_after="all", registry=reg)
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if ln.startswith("// IR after")] == [
        "// IR after fold-constants", "// IR after record"]


def test_dump_dir_writes_every_step(reg, tmp_path):
    qcompiler.compile(MODEL, None, pipeline="fold-constants,record", registry=reg, dump_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00-input.ir.txt", "00-input.onnx", "01-fold-constants.ir.txt", "01-fold-constants.onnx",
        "02-record.ir.txt", "02-record.onnx"]


def test_duplicate_pass_names_are_an_error_naming_both_plugins():
    class Dup:
        @staticmethod
        @hookimpl
        def qcompiler_register_passes():
            class Other(Pass):
                name = "fold-constants"

                def run(self, model, ctx):
                    return False

            return [Other]

    with pytest.raises(QCompilerError, match=r"pass 'fold-constants' is registered twice, by plugins "
                                             r"'qcompiler:builtin-passes' and '[^']*Dup'"):
        load_registry([Dup()])


def test_a_plugin_whose_hook_raises_is_named():
    class Broken:
        @staticmethod
        @hookimpl
        def qcompiler_register_passes():
            raise ImportError("no module named 'torch'")

    with pytest.raises(QCompilerError, match=r"plugin '[^']*Broken' failed in qcompiler_register_passes: ImportError"):
        load_registry([Broken()])


def test_registering_something_that_is_not_a_pass_is_named():
    class Wrong:
        @staticmethod
        @hookimpl
        def qcompiler_register_passes():
            return [object]

    with pytest.raises(QCompilerError, match="plugin '[^']*Wrong' registered <class 'object'>, not a Pass subclass"):
        load_registry([Wrong()])


def test_registrations_follow_plugin_registration_order():
    class Frontend:
        name = "shadow"

        def can_load(self, path):
            return True

        def load(self, source, **kw):
            raise AssertionError("the built-in ONNX frontend registered first must win")

    class Late:
        @staticmethod
        @hookimpl
        def qcompiler_register_frontends():
            return [Frontend()]

    reg = load_registry([Late()])
    assert [label.endswith("Late") for _, label in reg.frontends] == [False, True]
    assert reg.frontend_for("m.onnx").name == "onnx"
    assert reg.frontend_for("m.tflite").name == "shadow"
    assert next(iter(reg.passes.values()))[1] == "qcompiler:builtin-passes"
