"""The command line: bad input gives one clean line, never a traceback or a half-written file."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from corpus import bad_models, good_models, model_path

GOOD = next(e for e in good_models() if e["name"] == "op_conv")


def qc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qcompiler.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def assert_clean_error(res, *needles):
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("qcompiler: error: "), lines[0]
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("entry", bad_models(), ids=[e["name"] for e in bad_models()])
def test_bad_models(entry, tmp_path):
    src = model_path(entry)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out.onnx"
    res = qc("compile", src, "-o", out)
    assert_clean_error(res, entry["expect_error"])
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize(
    "args, needle",
    [
        (["compile", "{missing}", "-o", "{out}"], "no such file"),
        (["compile", "{dir}", "-o", "{out}"], "is a directory"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constnts"], "did you mean 'fold-constants'"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constants{max_byte=3}"], "max_byte"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constants{max_bytes=lots}"], "integer"),
        (["compile", "{good}", "-o", "{out}", "--pipeline", "fold-constants{"], "never closed"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "nope:1,2"], "'nope'"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "x:1,4,8"], "rank"),
        (["compile", "{good}", "-o", "{out}", "--input-shape", "x"], "NAME:D0"),
        (["compile", "{good}", "-o", "{dir}"], "is a directory"),
        (["compile", "{good}", "-o", "{nodir}"], "does not exist"),
        (["inspect", "{missing}"], "no such file"),
    ],
)
def test_bad_arguments(args, needle, tmp_path):
    (tmp_path / "d").mkdir()
    subs = {"missing": tmp_path / "missing.onnx", "dir": tmp_path / "d", "out": tmp_path / "out.onnx",
            "good": model_path(GOOD), "nodir": tmp_path / "no" / "such" / "out.onnx"}
    res = qc(*[subs.get(a[1:-1], a) if a.startswith("{") and a.endswith("}") else a for a in args])
    assert_clean_error(res, needle)
    assert not (tmp_path / "out.onnx").exists()


def test_debug_shows_traceback(tmp_path):
    res = qc("compile", tmp_path / "missing.onnx", "-o", tmp_path / "o.onnx", "--debug")
    assert res.returncode != 0
    assert "Traceback" in res.stderr


def test_version_and_passes():
    res = qc("--version")
    assert res.returncode == 0 and res.stdout.startswith("qcompiler ")
    res = qc("passes")
    assert res.returncode == 0
    assert "fold-constants" in res.stdout and "[qcompiler:builtin-passes]" in res.stdout
    assert "max_bytes: int = 16777216" in res.stdout
    assert "default pipeline 'float'" in res.stdout


def test_inspect_counts_macs():
    res = qc("inspect", model_path(GOOD))
    assert res.returncode == 0, res.stderr
    # Conv 4->8, 3x3, pads 1 on 8x8: 8*8*8 outputs x 4*3*3 MACs each.
    assert f"{8 * 8 * 8 * 4 * 9:,}" in res.stdout
    assert "parameters: 296" in res.stdout


def test_time_passes_print_ir_dump_dir(tmp_path):
    out, dump = tmp_path / "o.onnx", tmp_path / "dump"
    res = qc("compile", model_path(GOOD), "-o", out, "--time-passes", "--print-ir-after", "fold-constants",
             "--dump-dir", dump, "--verify-each")
    assert res.returncode == 0, res.stderr
    assert "// IR after fold-constants" in res.stderr
    assert "fold-constants" in res.stderr.split("// IR after")[-1] and "eliminate-dead-code" in res.stderr
    assert "total" in res.stderr
    names = sorted(p.name for p in dump.iterdir())
    assert names == ["00-input.ir.txt", "00-input.onnx", "01-fold-constants.ir.txt", "01-fold-constants.onnx",
                     "02-eliminate-dead-code.ir.txt", "02-eliminate-dead-code.onnx"]
