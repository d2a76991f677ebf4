"""The HTML report's content, determinism and self-containment, its advice rules and charts,
and the command-line ways to get it."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest
from report_helpers import DIGITS, DIGITS_INI

from qcompiler.report import collect_report_data, render_report, write_report
from qcompiler.report.advice import make_advice
from qcompiler.report.charts import bar_chart, histogram
from qcompiler.report.collect import ReportData, TensorInfo, WeightInfo


def test_same_inputs_same_bytes(tmp_path, digits_result):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    write_report(digits_result, a, source=str(DIGITS))
    write_report(digits_result, b, source=str(DIGITS))
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert not re.search(r"20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", text)  # no dates or times


def test_self_contained(tmp_path, digits_result):
    text = render_report(collect_report_data(digits_result, source=str(DIGITS)))
    assert "<link" not in text and " src=" not in text and "@import" not in text and "url(" not in text
    # The only URLs are the SVG namespace.
    assert set(re.findall(r"https?://[^\"' )]+", text)) == {"http://www.w3.org/2000/svg"}
    assert text.count("<svg") > 20 and "<style>" in text and "<script>" in text


def test_summary_and_layer_data_of_digits(digits_result):
    d = collect_report_data(digits_result, source=str(DIGITS))
    rows = {k: (f, q) for k, f, q in d.summary}
    assert rows["MACs"][0] == "893,248" and rows["ops"][0] == "26"
    assert "smaller" in rows["model size"][1]
    assert [t.output_name for t in d.outputs] == ["logits"]
    assert all(t.sqnr is not None and t.cosine is not None and t.hist for t in d.layers)
    assert all(t.lo < t.hi and sum(t.hist) > 0 for t in d.layers)
    # Worst layers are the lowest SQNR ones.
    worst = {t.tensor for t in d.layers if t.worst}
    rest = [t.sqnr for t in d.layers if not t.worst and t.op_type != "Input"]
    assert worst and max(t.sqnr for t in d.layers if t.worst) <= min(rest)
    # Per-channel ranges come from the float weights and the chosen 7-bit per-channel scales
    # clip nothing (values within half a step of the range only round).
    convs = [w for w in d.weights if w.is_conv]
    assert len(convs) == 6 and all(w.float_weights and w.per_channel and w.clip == 0 for w in convs)
    assert {t.name for t in d.tables} == {"layer_sqnr", "quant_param", "debug_info"}


def test_c_backend_figures_are_shown_when_present(digits_result):
    result = dataclasses.replace(digits_result, summary={"arena_bytes": 12288, "flash_bytes": 40960, "target": "cortex-m4"})
    html = render_report(collect_report_data(result, source=str(DIGITS)))
    assert "arena_bytes" in html and "12.0 KiB (12,288 bytes)" in html and "40.0 KiB" in html and "cortex-m4" in html


def test_labels_are_escaped():
    svg = bar_chart([1.0, None], ["<script>alert(1)</script>", "b&c"], [False, True])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "b&amp;c" in svg
    assert histogram([], 0, 1, 0, 1) == "" and "clipline" in histogram([1, 2, 3], -1.0, 1.0, -0.5, 0.5)


def _data(**kw) -> ReportData:
    base = dict(title="t", summary=[], backend=[], layers=[], outputs=[], weights=[], tables=[], config_text="",
                pipeline="", warnings=[], quantized=True, method="MAX_MIN", per_channel=False)
    base.update(kw)
    return ReportData(**base)


def _t(name, i, **kw) -> TensorInfo:
    return TensorInfo(node=name, op_type="Conv", tensor=name + "_out", index=i, **kw)


def test_advice_long_tail_suggests_a_clipping_method():
    d = _data(layers=[_t("a", 0, sqnr=40.0, tail=9.0), _t("b", 1, sqnr=41.0, tail=1.1)],
              outputs=[_t("y", 2, sqnr=39.0, cosine=0.9995, is_output=True)])
    adv = make_advice(d)
    tail = [a for a in adv if "Long-tailed" in a.title]
    assert tail and tail[0].items == ["a_out"] and "activation_quant_method=PERCENTILE" in tail[0].config
    assert all("Long-tailed" not in a.title for a in make_advice(dataclasses.replace(d, method="KL")))


def test_advice_keep_float_and_per_channel():
    w = WeightInfo("conv9", "Conv", "w", 7, False, 0, [-0.01, -3.0], [0.01, 3.0], [1], -3, 3, -3, 3, 0.0,
                   8.2, 4.1, True, True)  # fmt: skip
    d = _data(layers=[_t("a", 0, sqnr=35.0, drop=0.5), _t("hard", 1, sqnr=12.0, drop=23.0, worst=True)],
              outputs=[_t("y", 2, sqnr=11.0, cosine=0.95, is_output=True)], weights=[w])
    adv = make_advice(d)
    keep = adv[0]
    assert keep.level == "action" and keep.items == ["hard"] and "skip_quant_node=hard" in keep.config
    pc = [a for a in adv if "per-channel" in a.title.lower()]
    assert pc and pc[0].config == "[full_quant_param]\nper_channel=true" and pc[0].items == ["conv9"]


def test_advice_when_all_is_well(digits_result):
    d = collect_report_data(digits_result, source=str(DIGITS))
    assert d.advice[0].level == "ok" and "Nothing to fix" in d.advice[0].title


def test_float_model_report(tmp_path):
    import qcompiler

    result = qcompiler.compile(str(DIGITS), None)
    data = write_report(result, tmp_path / "f.html", source=str(DIGITS))
    assert not data.quantized and data.layers == [] and data.advice[0].title == "The model is not quantized"


def _qc(*args, env_cache):
    import os

    return subprocess.run([sys.executable, "-m", "qcompiler.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "QCOMPILER_CACHE_DIR": env_cache}, timeout=300)  # fmt: skip


def test_cli_compile_report_and_report_command(tmp_path, cache_dir):
    out, rep = tmp_path / "q.onnx", tmp_path / "compile.html"
    r = _qc("compile", DIGITS, "--config", DIGITS_INI, "-o", out, "--report", rep, env_cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and rep.is_file() and f"wrote {rep}" in r.stdout
    rep2 = tmp_path / "report.html"
    r = _qc("report", DIGITS, "--config", DIGITS_INI, "-o", rep2, "--quiet", env_cache=cache_dir)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    text = rep2.read_text()
    assert 'data-chart="sqnr"' in text and "table-debug_info" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compile.html", "q.onnx", "report.html"]  # no temp files


@pytest.mark.parametrize("args, message", [
    (["report", DIGITS, "-o", "{tmp}/missing/r.html"], "-o {tmp}/missing/r.html: folder {tmp}/missing does not exist"),
    (["report", DIGITS, "-o", "{tmp}"], "-o {tmp}: is a folder"),
    (["compile", DIGITS, "-o", "{tmp}/q.onnx", "--report", "{tmp}/nope/r.html"], "--report {tmp}/nope/r.html: folder"),
    (["report", "{tmp}/none.onnx", "-o", "{tmp}/r.html"], "none.onnx"),
    (["report", DIGITS, "--config", "{tmp}/none.ini", "-o", "{tmp}/r.html"], "none.ini: no such config file"),
    (["report", DIGITS, "--analyze", "-o", "{tmp}/r.html"], "--analyze needs a quantization config"),
])  # fmt: skip
def test_cli_report_bad_input(tmp_path, cli_env, capsys, args, message):
    from qcompiler.cli import main

    args = [str(a).format(tmp=tmp_path) for a in args]
    code = main(args)
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("qcompiler: error: ") and "Traceback" not in err
    assert message.format(tmp=tmp_path) in err
    assert list(tmp_path.iterdir()) == []
