"""Bad calibration data and configs: one clean line naming the culprit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "digits" / "digits_cnn.onnx"


def qc(*args, tmp):
    env = {**__import__("os").environ, "QCOMPILER_CACHE_DIR": str(tmp / "cache")}
    return subprocess.run([sys.executable, "-m", "qcompiler.cli", *map(str, args)], capture_output=True, text=True,
                          env=env)


def one_line_error(res, *needles):
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qcompiler: error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def write_ini(tmp: Path, body: str) -> Path:
    p = tmp / "q.ini"
    p.write_text("[common_quant_param]\nquant_type=FULL_QUANT\n" + body)
    return p


def calib_dir(tmp: Path, samples: list[np.ndarray]) -> Path:
    d = tmp / "calib"
    d.mkdir(exist_ok=True)
    for i, s in enumerate(samples):
        (d / f"s{i:03d}.bin").write_bytes(np.asarray(s, np.float32).tobytes())
    return d


def good_sample(seed=0):
    return np.random.default_rng(seed).random((1, 1, 16, 16), dtype=np.float32)


def test_empty_calibration_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    res = qc("compile", MODEL, "--calib-data", tmp_path / "empty", "-o", tmp_path / "o.onnx", tmp=tmp_path)
    one_line_error(res, "empty", "no .bin")
    assert not (tmp_path / "o.onnx").exists()


def test_nan_sample_names_the_file(tmp_path):
    bad = good_sample()
    bad[0, 0, 3, 3] = np.nan
    d = calib_dir(tmp_path, [good_sample(1), bad])
    res = qc("compile", MODEL, "--calib-data", d, "-o", tmp_path / "o.onnx", tmp=tmp_path)
    one_line_error(res, "s001.bin", "NaN")
    assert not (tmp_path / "o.onnx").exists()


def test_wrong_size_sample(tmp_path):
    d = calib_dir(tmp_path, [good_sample(), np.zeros(100, np.float32)])
    res = qc("compile", MODEL, "--calib-data", d, "-o", tmp_path / "o.onnx", tmp=tmp_path)
    one_line_error(res, "s001.bin", "400 bytes", "expected 1024 bytes")


def test_wrong_dtype_npy(tmp_path):
    d = tmp_path / "npy"
    d.mkdir()
    np.save(d / "a.npy", np.zeros((1, 1, 16, 16), np.int32))
    res = qc("compile", MODEL, "--calib-data", d, "-o", tmp_path / "o.onnx", tmp=tmp_path)
    one_line_error(res, "a.npy", "integer data")


@pytest.mark.parametrize("body, needle", [
    ("bit_num=12\n", "bit_num=12"),
    ("bitnum=8\n", "did you mean 'bit_num'"),
    ("[full_quant_param]\nactivation_quant_method=FOO\n", "one of MAX_MIN"),
    ("[full_quant_parm]\n", "did you mean [full_quant_param]"),
    ("[mixed_bit_weight_quant_param]\ninit_scale=1.5\n", "(0, 1)"),
    ("[data_preprocess_param]\nnormalize_mean=[1,2]\nnormalize_std=[1,2]\n", "1 or 3 values"),
])
def test_bad_config(tmp_path, body, needle):
    res = qc("compile", MODEL, "--config", write_ini(tmp_path, body), "-o", tmp_path / "o.onnx", tmp=tmp_path)
    one_line_error(res, "q.ini", needle)


def test_missing_calibration_in_config(tmp_path):
    res = qc("compile", MODEL, "--config", write_ini(tmp_path, ""), "-o", tmp_path / "o.onnx", tmp=tmp_path)
    one_line_error(res, "calibrate_path")


def test_constant_tensor_gets_a_valid_scale(tmp_path):
    d = calib_dir(tmp_path, [np.zeros((1, 1, 16, 16), np.float32)] * 3)
    out = tmp_path / "o.onnx"
    res = qc("compile", MODEL, "--calib-data", d, "-o", out, tmp=tmp_path)
    assert res.returncode == 0, res.stderr
    import onnx

    scales = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer if t.name.endswith("_scale")]
    assert all(np.all(s > 0) and np.all(np.isfinite(s)) for s in scales)
