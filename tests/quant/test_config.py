"""The quantization config: MindSpore INI, TOML and kwargs agree; every key's range is enforced."""

from __future__ import annotations

import pytest

from qcompiler.config import SCHEMA, QuantConfig, load_config
from qcompiler.errors import ConfigError

INI = """[common_quant_param]
quant_type=FULL_QUANT
bit_num=8
skip_quant_node=conv1, fc*
# a comment
[full_quant_param]
activation_quant_method=KL
bias_correction=True
per_channel=false
[data_preprocess_param]
calibrate_path=input:calib
calibrate_size=20
input_type=BIN
normalize_mean=[127.5, 127.5, 127.5]
normalize_std=[127.5, 127.5, 127.5]
"""
TOML = """[common_quant_param]
quant_type = "FULL_QUANT"
bit_num = 8
skip_quant_node = ["conv1", "fc*"]
[full_quant_param]
activation_quant_method = "KL"
bias_correction = true
per_channel = false
[data_preprocess_param]
calibrate_path = "input:calib"
calibrate_size = 20
input_type = "BIN"
normalize_mean = [127.5, 127.5, 127.5]
normalize_std = [127.5, 127.5, 127.5]
"""


def test_ini_toml_kwargs_agree(tmp_path):
    (tmp_path / "q.ini").write_text(INI)
    (tmp_path / "q.toml").write_text(TOML)
    a, b = load_config(tmp_path / "q.ini"), load_config(tmp_path / "q.toml")
    c = QuantConfig.from_kwargs(quant_type="FULL_QUANT", bit_num=8, skip_quant_node="conv1,fc*",
                                activation_quant_method="KL", bias_correction=True, per_channel=False,
                                calibrate_path="input:calib", calibrate_size=20, input_type="BIN",
                                normalize_mean=[127.5] * 3, normalize_std=[127.5] * 3)
    assert a == b == c
    assert a.full_quant_param.activation_quant_method == "KL" and a.bias_correction == "empirical"
    assert a.common_quant_param.skip_quant_node == ("conv1", "fc*")
    assert a.calibrate_paths() == {"input": str(tmp_path / "calib")}
    (tmp_path / "again.ini").write_text(a.to_ini())
    assert load_config(tmp_path / "again.ini") == a


def _bad_value(key):
    if key.kind in ("int", "float"):
        return (key.high + 1) if key.high is not None else "x"
    return {"bool": "maybe", "choice": "NOPE", "floats": "[a]"}.get(key.kind)


@pytest.mark.parametrize("key", [k for k in SCHEMA if _bad_value(k) is not None], ids=lambda k: k.name)
def test_every_key_rejects_out_of_range(key):
    kwargs = {key.name: _bad_value(key)}
    if key.section == "common_quant_param" and key.name != "quant_type":
        kwargs["quant_type"] = "WEIGHT_QUANT"
    with pytest.raises(ConfigError, match=key.name):
        QuantConfig.from_kwargs(**kwargs)


def test_bit_num_ranges_depend_on_quant_type():
    assert QuantConfig.from_kwargs(quant_type="WEIGHT_QUANT", bit_num=16).weight_bits == 16
    assert QuantConfig.from_kwargs(quant_type="WEIGHT_QUANT", bit_num=0).is_mixed_bit
    with pytest.raises(ConfigError, match=r"\[1, 8\] for FULL_QUANT"):
        QuantConfig.from_kwargs(quant_type="FULL_QUANT", bit_num=0)
    cfg = QuantConfig.from_kwargs(quant_type="FULL_QUANT", weight_bit_num=4, activation_bit_num=8)
    assert (cfg.weight_bits, cfg.activation_bits) == (4, 8)
    assert QuantConfig.from_kwargs(quant_type="WEIGHT_QUAN").is_weight_quant  # the doc's spelling


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.ini")
    (tmp_path / "q.ini").write_text("bit_num=8\n")
    with pytest.raises(ConfigError, match="section header"):
        load_config(tmp_path / "q.ini")
    (tmp_path / "q.ini").write_text("[common_quant_param]\nbit_nun=8\n")
    with pytest.raises(ConfigError, match=r"q.ini: \[common_quant_param\] unknown key 'bit_nun'; did you mean 'bit_num'"):
        load_config(tmp_path / "q.ini")
