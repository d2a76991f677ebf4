"""The command line: bad input gives one clean line, never a traceback or a half-written file."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from corpus import bad_models, good_models, model_path
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import qcompiler

GOOD = next(e for e in good_models() if e["name"] == "op_conv")
# The installed console script (what users run), next to this interpreter.
SCRIPT = Path(sys.executable).with_name("qcompiler")


def qc(*args, cwd=None):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "qcompiler.cli"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_the_console_script_is_installed():
    assert SCRIPT.exists(), "pip install -e . should install the qcompiler script"


def assert_clean_error(res, *needles):
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("qcompiler: error: "), lines[0]
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}  # fmt: skip


def _vi(name, shape, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def _model(nodes, inits=(), opset=17, x=(1, 3), y=(1, 3)):
    g = h.make_graph(nodes, "g", [_vi("x", list(x))], [_vi("y", list(y))], list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)]).SerializeToString()


# Bad files made here, beside the ones in tests/models/bad: name -> (bytes, expected text).
MADE = {
    "empty": (b"", "empty file"),
    "text": (b"this is not a model, just text\n", "not a valid ONNX model"),
    "arity": (_model([h.make_node("Relu", ["x", "x"], ["y"], name="r2")]), "node 'r2' (Relu)"),
    "unknown_op": (_model([h.make_node("Frobnicate", ["x"], ["y"])]), "No Op registered for Frobnicate"),
    "shapes": (_model([h.make_node("Add", ["x", "w"], ["y"])], [nh.from_array(np.ones(4, np.float32), "w")]),
               "shapes do not agree"),
    "opset_99": (_model([h.make_node("Relu", ["x"], ["y"])], opset=99), "opset 99"),
}  # fmt: skip


@pytest.fixture
def work(tmp_path):
    """A folder holding a copy of a good model; the test checks it is unchanged afterwards."""
    shutil.copy(model_path(GOOD), tmp_path / "good.onnx")
    (tmp_path / "d").mkdir()
    return tmp_path


@pytest.mark.parametrize("entry", bad_models(), ids=[e["name"] for e in bad_models()])
def test_bad_models(entry, work):
    src = work / Path(entry["file"]).name
    shutil.copy(model_path(entry), src)
    before = snapshot(work)
    res = qc("compile", src, "-o", work / "out.onnx")
    assert_clean_error(res, str(src), entry["expect_error"])
    assert snapshot(work) == before  # no output, no temporary file, the input unchanged


@pytest.mark.parametrize("name", sorted(MADE))
def test_bad_models_made_here(name, work):
    data, needle = MADE[name]
    src = work / f"{name}.onnx"
    src.write_bytes(data)
    before = snapshot(work)
    res = qc("compile", src, "-o", work / "out.onnx")
    assert_clean_error(res, str(src), needle)
    assert snapshot(work) == before


@pytest.mark.parametrize(
    "args, needle",
    [
        (["compile", "{missing}", "-o", "{out}"], "missing.onnx: no such file"),
        (["compile", "{dir}", "-o", "{out}"], "is a directory"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constnts"], "unknown pass 'fold-constnts'"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constnts"], "did you mean 'fold-constants'"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constants{max_byte=3}"], "no option 'max_byte'"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constants{max_bytes=lots}"], "max_bytes='lots' must be an integer"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constants{"], "never closed"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "nope:1,2"], "'nope', which is not a model input"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "x:1,4,8"], "has rank 3, but input 'x' has rank 4"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "x"], "NAME:D0"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "x:1,a,8,8"], "dims must be integers"),
        (["compile", "{good}", "-o", "{out}", "--print-ir-after", "fold-constnts"], "'fold-constnts': no such pass"),
        (["compile", "{good}", "-o", "{out}", "--backend", "nope"], "unknown backend 'nope'"),
        (["compile", "{good}", "-o", "{dir}"], "is a directory"),
        (["compile", "{good}", "-o", "{nodir}"], "does not exist"),
        (["compile", "{good}", "-o", "{out}", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["compile", "{good}"], "-o/--output"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["inspect", "{missing}"], "no such file"),
    ],
)  # fmt: skip
def test_bad_arguments(args, needle, work):
    subs = {"missing": work / "missing.onnx", "dir": work / "d", "out": work / "out.onnx",
            "good": work / "good.onnx", "nodir": work / "no" / "such" / "out.onnx"}  # fmt: skip
    before = snapshot(work)
    res = qc(*[subs.get(a[1:-1], a) if a.startswith("{") and a.endswith("}") else a for a in args])
    assert_clean_error(res, needle)
    assert snapshot(work) == before


@pytest.mark.parametrize("args", [["compile", "{missing}", "-o", "{out}"],
                                  ["compile", "{good}", "-o", "{out}", "--pipeline", "nope"]])  # fmt: skip
def test_debug_shows_traceback(args, work):
    subs = {"missing": work / "missing.onnx", "out": work / "out.onnx", "good": work / "good.onnx"}
    res = qc(*[subs.get(a[1:-1], a) if a.startswith("{") else a for a in args], "--debug")
    assert res.returncode != 0
    assert "Traceback (most recent call last)" in res.stderr
    assert "qcompiler.errors." in res.stderr


def test_version():
    res = qc("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"qcompiler {qcompiler.__version__}"


def test_passes_lists_every_pass_with_plugin_and_options():
    from qcompiler.driver import default_registry

    res = qc("passes")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    reg = default_registry()
    assert len(reg.passes) >= 10
    for name, (cls, plugin) in reg.passes.items():
        header = next(i for i, ln in enumerate(lines) if ln.startswith(f"{name}  "))
        assert f"[{plugin}]" in lines[header] and cls.description in lines[header]
        for spec in cls.option_specs():
            assert any(ln.strip().startswith(f"{spec.name}: {spec.type_name} = ") for ln in lines[header + 1:]), spec
    assert "[qcompiler:builtin-passes]" in res.stdout
    assert "    max_bytes: int = 16777216" in res.stdout
    for mode in reg.pipelines:
        assert f"default pipeline '{mode}'" in res.stdout


def test_inspect_counts_macs_by_hand():
    res = qc("inspect", model_path(GOOD))
    assert res.returncode == 0, res.stderr
    m = onnx.load(str(model_path(GOOD)))
    w = next(t for t in m.graph.initializer if len(t.dims) == 4)
    cout, cin, kh, kw = w.dims
    assert (cout, cin, kh, kw) == (8, 4, 3, 3)
    # Conv 4->8, 3x3, pads 1 on 8x8: 8 x 8 x 8 outputs, each 4*3*3 multiply-accumulates.
    macs = 8 * 8 * 8 * (cin * kh * kw)
    assert f"MACs: {macs:,}" in res.stdout
    conv_row = next(ln for ln in res.stdout.splitlines() if " Conv " in ln)
    assert f"{macs:,}" in conv_row and f"{cout * cin * kh * kw + cout:,}" in conv_row
    assert "parameters: 296" in res.stdout  # 8*4*3*3 weights + 8 biases


def test_inspect_json_sums_to_the_total():
    import json

    entry = next(e for e in good_models() if e["name"] == "pt_resnet_tiny")
    res = qc("inspect", model_path(entry), "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)["layers"]
    text = qc("inspect", model_path(entry)).stdout
    total = sum(r["macs"] for r in rows)
    assert total > 0 and f"MACs: {total:,}" in text
    assert all(r["macs"] > 0 for r in rows if r["op_type"] in ("Conv", "Gemm"))


def test_time_passes_print_ir_dump_dir(work):
    out, dump = work / "o.onnx", work / "dump"
    res = qc("compile", work / "good.onnx", "-o", out, "--time-passes", "--print-ir-after=fold-constants",
             "--dump-dir", dump, "--verify-each")
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("// IR after ") == 1 and "// IR after fold-constants\nmodel opsets(" in res.stderr
    table = res.stderr.split("// IR after")[-1].splitlines()
    header = next(i for i, ln in enumerate(table) if ln.startswith("pass "))
    assert [ln.split()[0] for ln in table[header + 1:]] == ["fold-constants", "eliminate-dead-code", "total"]
    assert "time (ms)" in table[header] and "changed" in table[header]
    names = sorted(p.name for p in dump.iterdir())
    assert names == ["00-input.ir.txt", "00-input.onnx", "01-fold-constants.ir.txt", "01-fold-constants.onnx",
                     "02-eliminate-dead-code.ir.txt", "02-eliminate-dead-code.onnx"]
    onnx.checker.check_model(str(dump / "02-eliminate-dead-code.onnx"))
    assert (dump / "01-fold-constants.ir.txt").read_text().startswith("model opsets(ai.onnx=")
    assert res.stdout.startswith(f"wrote {out}")


def test_print_ir_after_all(work):
    res = qc("compile", work / "good.onnx", "-o", work / "o.onnx", "--print-ir-after", "all", "--quiet")
    assert res.returncode == 0, res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.startswith("// IR after")] == [
        "// IR after fold-constants", "// IR after eliminate-dead-code"]
    assert res.stdout == ""


@pytest.mark.parametrize("name, macs", [
    ("op_conv_grouped", (6 * 6 * 6) * (4 // 2 * 3 * 3)),      # out N*C*H*W x (Cin/group)*kh*kw
    ("op_conv_depthwise", (4 * 8 * 8) * (1 * 3 * 3)),
    ("op_conv_transpose", (4 * 8 * 8) * (6 * 2 * 2)),         # every input pixel x Cout*kh*kw
    ("op_gemm", (2 * 10) * 16),                               # out M*N x K (transB=1)
    ("op_matmul", (5 * 12) * 8),
])  # fmt: skip
def test_inspect_macs_by_hand(name, macs):
    from qcompiler.inspect_model import layer_table

    entry = next(e for e in good_models() if e["name"] == name)
    rows = layer_table(qcompiler.load_model(model_path(entry)))
    assert [r.macs for r in rows if r.macs] == [macs]


def test_a_good_run_prints_no_onnxruntime_warnings(work):
    """pt_kws_lstm makes onnxruntime's optimizer print 'UnsqueezeElimination cannot remove node'
    warnings while qcompiler folds and calibrates; a successful compile prints only its summary."""
    entry = next(e for e in good_models() if e["name"] == "pt_kws_lstm")
    calib = work / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        rng.standard_normal((1, 10, 20)).astype(np.float32).tofile(calib / f"{i}.bin")
    res = qc("compile", model_path(entry), "--calib-data", calib, "-o", work / "q.onnx")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = qc("--debug", "compile", model_path(entry), "--calib-data", calib, "-o", work / "q2.onnx")
    assert res.returncode == 0 and "onnxruntime" in res.stderr  # --debug keeps them
