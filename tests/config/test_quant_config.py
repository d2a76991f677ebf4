"""qcompiler.config: every key's range, unknown keys/sections, INI = TOML = kwargs, round trip."""

from __future__ import annotations

import dataclasses
import os
import re

import pytest

from qcompiler.config import (
    SCHEMA,
    SECTIONS,
    CommonQuantParam,
    DataPreprocessParam,
    FullQuantParam,
    MixedBitWeightQuantParam,
    QuantConfig,
    load_config,
    register_config_key,
    unregister_config_key,
)
from qcompiler.errors import ConfigError

W = {"quant_type": "WEIGHT_QUANT"}
# key -> (good value, stored value, bad value, extra kwargs); every schema key appears.
RANGES = {
    "quant_type": ("weight_quant", "WEIGHT_QUANT", "HALF_QUANT", {}),
    "bit_num": ("16", 16, "17", W),
    "weight_bit_num": (0, 0, -1, W),
    "activation_bit_num": (1, 1, 0, W),
    "weight_block_size": ("32", 32, "24", {}),
    "min_quant_weight_size": ("65535", 65535, "65536", {}),
    "min_quant_weight_channel": (0, 0, -1, {}),
    "skip_quant_node": ("conv1, fc*", ("conv1", "fc*"), ["a", 3], {}),
    "debug_info_save_path": ("dbg", "dbg", 5, {}),
    "init_scale": ("0.999", 0.999, "1", {}),
    "auto_tune": ("True", True, "maybe", {}),
    "activation_quant_method": ("kl", "KL", "AVERAGE", {}),
    "bias_correction": ("analytic", "analytic", "sometimes", {}),
    "per_channel": ("FALSE", False, "2", {}),
    "equalization": ("yes", True, "y", {}),
    "bias_absorption": ("true", True, "absorb", {}),
    "adaround": ("on", True, "learned", {}),
    "adaround_iterations": ("1", 1, "0", {}),
    "layer_bits_search": ("false", False, "some", {}),
    "size_budget": ("1.5", 1.5, "0.9", {}),
    "activation_symmetric": (True, True, "sym", {}),
    "weight_symmetric": ("false", False, 1.5, {}),
    "activation_signed": ("true", True, "int8", {}),
    "weight_signed": ("0", False, "uint8", {}),
    "narrow_range": ("on", True, "narrow", {}),
    "reduce_range": ("off", False, "7", {}),
    "is_full_quantize": ("1", True, "all", {}),
    "quantizable_op_type": ("Conv,MatMul", ("Conv", "MatMul"), 7, {}),
    "skip_op_type": (["Add"], ("Add",), {"a": 1}, {}),
    "skip_quant_scope": ("encoder/", ("encoder/",), 3.0, {}),
    "percentile": ("99.9", 99.9, "100.5", {}),
    "num_bins": (128, 128, 127, {}),
    "calibrate_path": ("in:dir", "in:dir", 3, {}),
    "calibrate_size": ("1", 1, "0", {}),
    "input_type": ("npy", "NPY", "JPEG", {}),
    "image_to_format": ("gray", "GRAY", "RGBA", {}),
    "normalize_mean": ("[127.5]", (127.5,), "[a, b]", {}),
    "normalize_std": ("[1, 2, 3]", (1.0, 2.0, 3.0), "[1, nan, 2]", {}),
    "resize_width": ("65535", 65535, "65536", {"resize_height": 4}),
    "resize_height": (1, 1, 0, {"resize_width": 4}),
    "resize_method": ("cubic", "CUBIC", "LANCZOS", {}),
    "center_crop_width": (224, 224, 0, {"center_crop_height": 4}),
    "center_crop_height": (224, 224, 2.5, {"center_crop_width": 4}),
}
SECTION_OF = {k.name: k.section for k in SCHEMA}


def test_the_range_table_covers_every_key():
    assert set(RANGES) == {k.name for k in SCHEMA}


@pytest.mark.parametrize("name", sorted(RANGES))
def test_key_range(name, tmp_path):
    good, stored, bad, extra = RANGES[name]
    cfg = QuantConfig.from_kwargs(**{name: good}, **extra)
    assert getattr(cfg.section(SECTION_OF[name]), name) == stored
    with pytest.raises(ConfigError) as e:
        QuantConfig.from_kwargs(**{name: bad}, **extra)
    msg = str(e.value)
    assert f"[{SECTION_OF[name]}] {name}=" in msg and "must be" in msg and "\n" not in msg
    # the same value from a file names the file
    if not isinstance(bad, str):
        return  # a file holds only text; non-text values are a kwargs/TOML concern
    body: dict[str, list[str]] = {}
    for k, v in {**extra, name: bad}.items():
        body.setdefault(SECTION_OF[k], []).append(f"{k}={v}")
    (tmp_path / "q.ini").write_text("".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in body.items()))
    with pytest.raises(ConfigError, match=rf"q\.ini: \[{SECTION_OF[name]}\] {name}={re.escape(bad)}: must be"):
        load_config(tmp_path / "q.ini")


def test_bit_num_range_depends_on_quant_type(tmp_path):
    (tmp_path / "q.ini").write_text("[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=12\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "q.ini")
    assert str(e.value) == f"{tmp_path / 'q.ini'}: [common_quant_param] bit_num=12: must be an integer in [1, 8] for FULL_QUANT"
    assert QuantConfig.from_kwargs(quant_type="WEIGHT_QUANT", bit_num=12).weight_bits == 12
    assert QuantConfig.from_kwargs(quant_type="WEIGHT_QUAN", bit_num=0).is_mixed_bit  # MindSpore's spelling
    with pytest.raises(ConfigError, match=r"bit_num=0: must be an integer in \[1, 8\] for FULL_QUANT"):
        QuantConfig.from_kwargs(quant_type="FULL_QUANT", bit_num=0)
    with pytest.raises(ConfigError, match=r"weight_bit_num=9: must be an integer in \[1, 8\] for FULL_QUANT"):
        QuantConfig.from_kwargs(weight_bit_num=9)
    w4a8 = QuantConfig.from_kwargs(quant_type="FULL_QUANT", weight_bit_num=4)
    assert (w4a8.weight_bits, w4a8.activation_bits, w4a8.is_full_quant, w4a8.is_mixed_bit) == (4, 8, True, False)
    a16 = QuantConfig.from_kwargs(quant_type="WEIGHT_QUANT", bit_num=4, activation_bit_num=16)
    assert (a16.weight_bits, a16.activation_bits, a16.is_weight_quant) == (4, 16, True)


def test_defaults_follow_mindspore():
    c = QuantConfig()
    assert c == QuantConfig.from_kwargs()
    assert (c.common_quant_param.bit_num, c.common_quant_param.min_quant_weight_size,
            c.common_quant_param.min_quant_weight_channel) == (8, 0, 16)
    assert (c.mixed_bit_weight_quant_param.init_scale, c.mixed_bit_weight_quant_param.auto_tune) == (0.02, False)
    f = c.full_quant_param
    assert (f.activation_quant_method, f.bias_correction, f.per_channel) == ("MAX_MIN", "empirical", True)
    assert (f.weight_symmetric, f.activation_symmetric, f.is_full_quantize, f.percentile, f.num_bins) == (
        True, False, True, 99.999, 8192)
    assert c.data_preprocess_param == DataPreprocessParam.defaults()
    assert c.data_preprocess_param.calibrate_path is None


def test_section_dataclasses_match_the_schema_and_are_frozen():
    for section, cls in zip(SECTIONS, (CommonQuantParam, MixedBitWeightQuantParam, FullQuantParam,
                                       DataPreprocessParam)):
        fields = [f.name for f in dataclasses.fields(cls) if f.name != "extra"]
        assert fields == [k.name for k in SCHEMA if k.section == section]
    c = QuantConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.common_quant_param.bit_num = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.full_quant_param = None
    assert hash(c) == hash(QuantConfig())


INI = """# MindSpore Lite style
[common_quant_param]
quant_type = FULL_QUANT
  bit_num=8
skip_quant_node=conv1, fc*

; another comment style
[full_quant_param]
activation_quant_method=kl
bias_correction=True
per_channel=false

[mixed_bit_weight_quant_param]
init_scale=0.05

[data_preprocess_param]
calibrate_path=input:calib
calibrate_size=20
input_type=BIN
normalize_mean=[127.5, 127.5, 127.5]
normalize_std=[127.5,127.5,127.5]
"""
TOML = """[common_quant_param]
quant_type = "FULL_QUANT"
bit_num = 8
skip_quant_node = ["conv1", "fc*"]
[full_quant_param]
activation_quant_method = "KL"
bias_correction = true
per_channel = false
[mixed_bit_weight_quant_param]
init_scale = 0.05
[data_preprocess_param]
calibrate_path = "input:calib"
calibrate_size = 20
input_type = "BIN"
normalize_mean = [127.5, 127.5, 127.5]
normalize_std = [127.5, 127.5, 127.5]
"""
KWARGS = dict(quant_type="FULL_QUANT", bit_num=8, skip_quant_node="conv1,fc*", activation_quant_method="KL",
              bias_correction=True, per_channel=False, init_scale=0.05, calibrate_path="input:calib",
              calibrate_size=20, input_type="BIN", normalize_mean=[127.5] * 3, normalize_std=(127.5, 127.5, 127.5))


def test_ini_toml_kwargs_give_equal_configs(tmp_path):
    (tmp_path / "q.ini").write_text(INI)
    (tmp_path / "q.toml").write_text(TOML)
    a, b = load_config(tmp_path / "q.ini"), load_config(tmp_path / "q.toml")
    c = QuantConfig.from_kwargs(**KWARGS)
    d = QuantConfig.from_kwargs(common_quant_param={"quant_type": "FULL_QUANT", "bit_num": 8,
                                                    "skip_quant_node": ["conv1", "fc*"]},
                                full_quant_param={"activation_quant_method": "KL", "bias_correction": "empirical",
                                                  "per_channel": "false"},
                                **{"mixed_bit_weight_quant_param.init_scale": "0.05"},
                                data_preprocess_param={k: KWARGS[k] for k in KWARGS if k.startswith(("calib", "input", "norm"))})
    assert a == b == c == d
    assert a.given == b.given == c.given == d.given
    assert a.full_quant_param.activation_quant_method == "KL" and a.bias_correction == "empirical"
    assert a.common_quant_param.skip_quant_node == ("conv1", "fc*")
    assert a != a.replace(bit_num=7)


def test_to_ini_round_trip_and_is_deterministic(tmp_path):
    (tmp_path / "q.ini").write_text(INI)
    a = load_config(tmp_path / "q.ini")
    text = a.to_ini()
    assert text == load_config(tmp_path / "q.ini").to_ini()
    assert "bias_correction=true\n" in text and "skip_quant_node=conv1,fc*\n" in text
    assert text.index("[common_quant_param]") < text.index("[mixed_bit_weight_quant_param]") < text.index(
        "[full_quant_param]") < text.index("[data_preprocess_param]")
    (tmp_path / "again.ini").write_text(text)
    again = load_config(tmp_path / "again.ini")
    assert again == a and again.given == a.given and again.to_ini() == text
    full = a.replace(percentile=99.123456789, bias_correction="analytic").to_ini(include_defaults=True)
    (tmp_path / "full.ini").write_text(full)
    b = load_config(tmp_path / "full.ini")
    assert b == a.replace(percentile=99.123456789, bias_correction="analytic")
    assert b.full_quant_param.percentile == 99.123456789
    assert QuantConfig().to_ini() == ""


def test_unknown_keys_and_sections_suggest(tmp_path):
    p = tmp_path / "q.ini"
    p.write_text("[common_quant_param]\nbit_nun=8\n")
    with pytest.raises(ConfigError, match=r"q\.ini: \[common_quant_param\] unknown key 'bit_nun'; did you mean 'bit_num'\?$"):
        load_config(p)
    p.write_text("[common_quant_parm]\nbit_num=8\n")
    with pytest.raises(ConfigError, match=r"q\.ini: unknown section \[common_quant_parm\]; did you mean \[common_quant_param\]\?"):
        load_config(p)
    p.write_text("[full_quant_param]\nbit_num=8\n")
    with pytest.raises(ConfigError, match=r"\[full_quant_param\] unknown key 'bit_num'; it belongs in \[common_quant_param\]"):
        load_config(p)
    p.write_text("[totally_else]\nx=1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[totally_else\] \(sections: common_quant_param,"):
        load_config(p)
    (tmp_path / "q.toml").write_text("[data_preprocess_param]\ncalibrate_sise = 3\n")
    with pytest.raises(ConfigError, match=r"q\.toml: \[data_preprocess_param\] unknown key 'calibrate_sise'; did you mean 'calibrate_size'"):
        load_config(tmp_path / "q.toml")
    with pytest.raises(ConfigError, match=r"unknown quantization option 'activation_quant_methd'; did you mean 'activation_quant_method'"):
        QuantConfig.from_kwargs(activation_quant_methd="KL")
    with pytest.raises(ConfigError, match=r"unknown section \[full_quant\]; did you mean \[full_quant_param\]"):
        QuantConfig.from_kwargs(**{"full_quant.per_channel": True})


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.ini: no such config file$"):
        load_config(tmp_path / "nope.ini")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    p = tmp_path / "q.ini"
    p.write_text("bit_num=8\n")
    with pytest.raises(ConfigError, match="section header"):
        load_config(p)
    p.write_text("[common_quant_param]\nbit_num=8\nbit_num=7\n")
    with pytest.raises(ConfigError, match="bit_num") as e:
        load_config(p)
    assert "\n" not in str(e.value)
    p.write_text("[common_quant_param]\nbit_num=8 # inline comments are not comments\n")
    with pytest.raises(ConfigError, match=r"bit_num=8 # inline comments are not comments: must be an integer"):
        load_config(p)
    t = tmp_path / "q.toml"
    t.write_text("[common_quant_param\n")
    with pytest.raises(ConfigError, match=r"q\.toml: not valid TOML"):
        load_config(t)
    t.write_text("bit_num = 8\n")
    with pytest.raises(ConfigError, match=r"q\.toml: bit_num=8: top-level keys must be in a table"):
        load_config(t)


def test_cross_key_rules():
    with pytest.raises(ConfigError, match=r"normalize_mean=\[1\.0, 2\.0, 3\.0\] has 3 values but normalize_std=\[2\.0\] has 1"):
        QuantConfig.from_kwargs(normalize_mean=[1, 2, 3], normalize_std=[2])
    with pytest.raises(ConfigError, match=r"normalize_std=\[1\.0, 0\.0, 1\.0\]: every value must be > 0"):
        QuantConfig.from_kwargs(normalize_std=[1, 0, 1])
    with pytest.raises(ConfigError, match=r"normalize_mean=\[1\.0, 2\.0\]: must have 1 or 3 values, not 2"):
        QuantConfig.from_kwargs(normalize_mean="[1, 2]")
    with pytest.raises(ConfigError, match="resize_width=8: resize_height must be set too"):
        QuantConfig.from_kwargs(resize_width=8)
    with pytest.raises(ConfigError, match="center_crop_height=8: center_crop_width must be set too"):
        QuantConfig.from_kwargs(center_crop_height=8)
    cfg = QuantConfig.from_kwargs(quant_type="FULL_QUANT")  # loads without data ...
    with pytest.raises(ConfigError, match=r"FULL_QUANT needs calibration data: set \[data_preprocess_param\] calibrate_path"):
        cfg.require_calibration_data()  # ... and says so when asked
    cfg.replace(calibrate_path="d").require_calibration_data()


def test_relative_calibrate_path_resolves_against_the_config_folder(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "q.ini").write_text("[data_preprocess_param]\ncalibrate_path=a:data/a, b:../b,c:/abs/c\n")
    monkeypatch.chdir(tmp_path / "conf" / "..")
    os.makedirs(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = load_config("../conf/q.ini")
    assert cfg.calibrate_paths() == {"a": str(conf / "data" / "a"), "b": str(tmp_path / "b"), "c": "/abs/c"}
    assert cfg.data_preprocess_param.calibrate_path == "a:data/a, b:../b,c:/abs/c"  # kept as written
    (conf / "one.ini").write_text("[data_preprocess_param]\ncalibrate_path=./imgs\n")
    assert load_config(conf / "one.ini").calibrate_paths() == {"": str(conf / "imgs")}
    # names with ':' and '/' (TensorFlow-style) split after the longest known input name
    tf = QuantConfig.from_kwargs(calibrate_path="input_1:0:/d/x,scope/in:0:/d/y")
    assert tf.calibrate_paths(["input_1:0", "scope/in:0"]) == {"input_1:0": "/d/x", "scope/in:0": "/d/y"}
    with pytest.raises(ConfigError, match="input 'a' given twice"):
        QuantConfig.from_kwargs(calibrate_path="a:x,a:y").calibrate_paths()


def test_replace_and_merge_for_cli_overrides(tmp_path):
    (tmp_path / "q.ini").write_text(INI)
    base = load_config(tmp_path / "q.ini")
    cli = base.replace(calibrate_path="/data/calib", bit_num=7)
    assert cli.data_preprocess_param.calibrate_path == "/data/calib" and cli.common_quant_param.bit_num == 7
    assert cli.full_quant_param == base.full_quant_param and cli.source == base.source
    assert base.common_quant_param.bit_num == 8  # unchanged
    assert base.replace(calibrate_size=None).data_preprocess_param.calibrate_size is None
    assert ("data_preprocess_param", "calibrate_size") not in base.replace(calibrate_size=None).given
    with pytest.raises(ConfigError, match=r"q\.ini \(override\): \[common_quant_param\] bit_num=99: must be"):
        base.replace(bit_num=99)
    with pytest.raises(ConfigError, match=r"bit_num=12: must be an integer in \[1, 8\] for FULL_QUANT"):
        QuantConfig.from_kwargs(quant_type="WEIGHT_QUANT", bit_num=12).replace(quant_type="FULL_QUANT")
    other_dir = tmp_path / "o"
    other_dir.mkdir()
    (other_dir / "o.ini").write_text("[data_preprocess_param]\ncalibrate_path=rel\n[full_quant_param]\nper_channel=true\n")
    merged = base.merge(load_config(other_dir / "o.ini"))
    assert merged.full_quant_param.per_channel is True and merged.full_quant_param.activation_quant_method == "KL"
    assert merged.calibrate_paths() == {"": str(other_dir / "rel")}


def test_plugin_keys_and_sections():
    key = register_config_key("hardswish_param", "alpha", "float", 0.5, low=0, high=1, help="slope")
    try:
        register_config_key(key)  # the same definition again is fine
        register_config_key("full_quant_param", "fold_relu6", "bool", True, help="x")
        c = QuantConfig.from_kwargs(alpha="0.25", fold_relu6="no")
        assert c.section("hardswish_param").alpha == 0.25 and c.get("hardswish_param", "alpha") == 0.25
        assert c.full_quant_param.fold_relu6 is False and QuantConfig().full_quant_param.fold_relu6 is True
        assert "[hardswish_param]\nalpha=0.25\n" in c.to_ini()
        with pytest.raises(ConfigError, match=r"\[hardswish_param\] alpha=2: must be a number in \[0, 1\]"):
            QuantConfig.from_kwargs(alpha=2)
        with pytest.raises(ConfigError, match="already defined differently"):
            register_config_key("hardswish_param", "alpha", "float", 0.7)
        with pytest.raises(ConfigError, match="already defined differently"):
            register_config_key("common_quant_param", "bit_num", "int", 4)
        with pytest.raises(ConfigError, match=r"plugin key \[p\] default b=2: must be one of X, Y"):
            register_config_key("p", "b", "choice", "2", choices=("X", "Y"))
        with pytest.raises(ConfigError, match="unknown type 'complex'"):
            register_config_key("p", "c", "complex")
    finally:
        unregister_config_key("hardswish_param", "alpha")
        unregister_config_key("full_quant_param", "fold_relu6")
    with pytest.raises(ConfigError, match="unknown quantization option 'alpha'"):
        QuantConfig.from_kwargs(alpha=0.25)


def test_skip_reason():
    c = QuantConfig.from_kwargs(skip_quant_node="conv1,block2/*", skip_quant_scope="head.", skip_op_type="Softmax")
    assert c.skip_reason("conv1") == "skip_quant_node conv1"
    assert c.skip_reason("conv10") is None
    assert c.skip_reason("block2/conv") == "skip_quant_node block2/*"
    assert c.skip_reason("head.fc", "Gemm") == "skip_quant_scope head."
    assert c.skip_reason("x", "Softmax") == "skip_op_type Softmax"
    assert c.skip_reason("x", "Conv") is None
