"""Sensitivity analysis and automatic selection: on a model with one layer made hard to
quantize, ``analyze`` ranks it first and the selection meets the target keeping only it float."""

from __future__ import annotations

import json
import math

import pytest
from report_helpers import DIGITS, DIGITS_INI

from qcompiler.analyze import analyze, measure, select_float_layers
from qcompiler.config import load_config

CFG = {"quant_type": "FULL_QUANT"}


def test_hard_layer_is_ranked_first_in_both_modes(hard_model, cache_dir):
    model, calib = hard_model
    # Two processes: the trials run in parallel.
    sens = analyze(model, CFG, calib_data=calib, modes="both", jobs=2, options={"cache_dir": cache_dir})
    skip, only = sens.ranking("skip"), sens.ranking("only")
    assert skip[0].layer == "conv3" and only[0].layer == "conv3"
    assert skip[0].gain > 15 and all(t.gain < 1 for t in skip[1:])  # keeping it float is what helps
    assert only[0].sqnr < sens.baseline.sqnr  # quantized alone it is already worse than everything
    assert sens.rows()[0].top and sens.rows()[0].skip.layer == "conv3"
    assert {n for n, _ in sens.layers} == {"conv1", "conv2", "conv3", "conv4", "gap", "flatten", "fc"}
    text = sens.format_table()
    assert text.splitlines()[2].split()[:2] == ["1", "conv3"]
    d = sens.as_dict()
    assert d["ranking"]["skip"][0]["layer"] == "conv3" and d["samples"] == 32
    json.dumps(d)


def test_selection_keeps_only_the_hard_layer(hard_model, cache_dir, tmp_path):
    import qcompiler

    model, calib = hard_model
    sel = select_float_layers(model, CFG, calib_data=calib, target_cosine=0.999, jobs=1,
                              options={"cache_dir": cache_dir})  # fmt: skip
    assert not sel.baseline.meets(0.999, None)
    assert sel.met and sel.skipped == ["conv3"] and sel.final.cosine >= 0.999
    path = sel.write_config(tmp_path / "chosen.ini")
    text = (tmp_path / "chosen.ini").read_text()
    assert text.startswith("# Chosen by qcompiler to meet cosine >= 0.999")
    cfg = load_config(path)
    assert cfg.get("common_quant_param", "skip_quant_node") == ("conv3",)
    # Re-running the written config gives the model that was measured.
    result = qcompiler.compile(model, None, config=cfg, calib_data=calib, options={"cache_dir": cache_dir})
    convs = {op.name: op for op in result.model.graph if op.op_type == "ConvAct"}
    assert convs["conv3"].input(1).is_constant and not convs["conv2"].input(1).is_constant
    # onnxruntime's default optimizations (1.20 on: WeightBiasQuantization) would quantize conv3's
    # float weights again, one scale per tensor; the written model dequantizes its input per axis
    # so they stay float, and the target holds in onnxruntime too.
    assert sel.onnxruntime is not None
    assert sel.onnxruntime.cosine >= 0.999, sel.onnxruntime.describe()
    assert not any("WeightBiasQuantization" in w for w in sel.warnings)


def test_selection_for_a_target_sqnr_and_one_already_met(hard_model, cache_dir):
    model, calib = hard_model
    sel = select_float_layers(model, CFG, calib_data=calib, target_sqnr=35.0, jobs=1, options={"cache_dir": cache_dir})
    assert sel.met and sel.skipped == ["conv3"] and sel.final.sqnr >= 35
    easy = select_float_layers(model, CFG, calib_data=calib, target_cosine=0.9, jobs=1, options={"cache_dir": cache_dir})
    assert easy.met and easy.skipped == [] and easy.config.get("common_quant_param", "skip_quant_node") == ()


def test_measure():
    import numpy as np

    ref = [[np.array([[1.0, 2.0, 3.0]])], [np.array([[3.0, 1.0, 0.0]])]]
    same = measure(ref, ref)
    assert math.isinf(same.sqnr) and same.cosine == pytest.approx(1.0) and same.agreement == 1.0
    noisy = measure(ref, [[np.array([[1.0, 2.0, 3.1]])], [np.array([[0.0, 1.0, 3.0]])]])
    assert noisy.agreement == 0.5 and noisy.cosine < 1 and 0 < noisy.sqnr < 20


def _main(args, capsys):
    from qcompiler.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_analyze_json_and_report(tmp_path, cli_env, capsys):
    rep = tmp_path / "a.html"
    code, out, err = _main(["analyze", DIGITS, "--config", DIGITS_INI, "--json", "--jobs", "1", "--samples", "8",
                            "--report", rep], capsys)  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    assert d["samples"] == 8 and len(d["ranking"]["skip"]) == len(d["layers"]) >= 10
    html = rep.read_text()
    assert 'id="sensitivity"' in html and 'data-chart="sensitivity"' in html


def test_cli_compile_target_writes_the_config_and_the_report(tmp_path, cli_env, capsys):
    out, rep = tmp_path / "q.onnx", tmp_path / "r.html"
    code, stdout, err = _main(["compile", DIGITS, "--config", DIGITS_INI, "-o", out, "--target-cosine", "0.9997",
                               "--jobs", "1", "--report", rep], capsys)  # fmt: skip
    assert code == 0, err
    chosen = tmp_path / "q.selected.ini"
    assert chosen.is_file() and out.is_file() and rep.is_file()
    assert "target cosine >= 0.9997 met" in stdout and str(chosen) in stdout
    cfg = load_config(chosen)
    skipped = cfg.get("common_quant_param", "skip_quant_node")
    assert 1 <= len(skipped) <= 3
    # Calibration folder still found from the new file's place (absolute: it is not below it).
    assert cfg.calibrate_paths(["input"])["input"] == str(DIGITS.parent / "calib")
    assert 'id="selection"' in rep.read_text()
    # Re-running the written config compiles.
    code, _, err = _main(["compile", DIGITS, "--config", chosen, "-o", tmp_path / "again.onnx"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("args, message", [
    (["compile", DIGITS, "--config", DIGITS_INI, "-o", "{tmp}/q.onnx", "--target-cosine", "1.5"], "--target-cosine 1.5: must be in (0, 1]"),
    (["compile", DIGITS, "--config", DIGITS_INI, "-o", "{tmp}/q.onnx", "--target-sqnr", "nan"], "--target-sqnr nan: must be a finite"),
    (["compile", DIGITS, "-o", "{tmp}/q.onnx", "--target-cosine", "0.99"], "need a quantization config"),
    (["compile", DIGITS, "--config", DIGITS_INI, "-o", "{tmp}/q.onnx", "--save-config", "{tmp}/c.ini"], "--save-config needs --target-cosine"),
    (["compile", DIGITS, "--config", DIGITS_INI, "-o", "{tmp}/q.onnx", "--target-cosine", "0.99", "--save-config", DIGITS_INI], "is the input config"),
    (["compile", DIGITS, "--config", DIGITS_INI, "-o", "{tmp}/q.onnx", "--target-cosine", "0.99", "--jobs", "0"], "--jobs 0: must be at least 1"),
    (["analyze", DIGITS], "analyze needs a quantization config"),
    (["analyze", DIGITS, "--config", DIGITS_INI, "--samples", "0"], "--samples 0: must be at least 1"),
    (["analyze", DIGITS, "--config", DIGITS_INI, "--top", "0"], "--top 0: must be at least 1"),
    (["analyze", DIGITS, "--config", DIGITS_INI, "--mode", "all"], "invalid choice: 'all'"),
    (["analyze", DIGITS, "--config", DIGITS_INI, "--report", "{tmp}/no/r.html"], "--report {tmp}/no/r.html: folder"),
    (["analyze", "{tmp}/none.onnx", "--config", DIGITS_INI], "none.onnx"),
])  # fmt: skip
def test_cli_analyze_and_selection_bad_input(tmp_path, cli_env, capsys, args, message):
    args = [str(a).format(tmp=tmp_path) for a in args]
    try:
        code, _, err = _main(args, capsys)
    except SystemExit as e:  # argparse usage errors
        code, err = e.code, capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("qcompiler: error: ") and "Traceback" not in err
    assert message.format(tmp=tmp_path) in err
    assert list(tmp_path.iterdir()) == []
