"""The C backend through the driver and the CLI: the compile command and its summary, every
target giving generic's bits, deterministic output, and bad input (unsupported ops, unknown
targets, foreign output folders) as one-line errors that write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus import good_models, model_path, random_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cbuild  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits" / "digits_cnn.onnx"
INI = ROOT / "examples" / "digits" / "full_quant.ini"
CALIB = ROOT / "examples" / "digits" / "calib"
pytestmark = pytest.mark.skipif(not cbuild.have("host"), reason="no C compiler")


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qcompiler.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def objcache(tmp_path_factory):
    return tmp_path_factory.mktemp("objects")


def digits_input() -> np.ndarray:
    return np.fromfile(sorted(CALIB.glob("*.bin"))[3], np.float32).reshape(1, 1, 16, 16)


def test_cli_compiles_to_c_and_prints_the_summary(tmp_path, objcache, monkeypatch):
    monkeypatch.setenv("QCOMPILER_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    r = cli("compile", DIGITS, "--config", INI, "--calib-data", CALIB, "--backend", "c", "--target", "cortex-m",
            "-o", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = r.stdout
    # 13 ops: the residual Add's ReLU is the clamp of the Add's int8 output (one kernel call)
    for key in ("ops 13", "int8 ops 13", "float ops 0", "MACs 893248", "arena bytes", "arena lower bound bytes",
                "flash bytes"):  # fmt: skip
        assert key in text, (key, text)
    for f in ("model.h", "model.c", "main.c", "Makefile", "CMakeLists.txt", "kernels/qc_gemm_s8.c",
              "kernels/include/qc_kernels.h", "boards/cortex-m/startup.c"):  # fmt: skip
        assert (out / f).exists(), f
    # the cortex-m kernel variant was chosen, and it still builds and runs on the host
    assert "__ARM_FEATURE_DSP" in (out / "kernels" / "qc_gemm_s8.c").read_text()
    cbuild.build(out, "host", objcache)
    y = cbuild.run(out, {"input": digits_input()}, "host")["logits"]
    assert y.shape == (10,) and np.isfinite(y).all()
    # model.h: the documented API, sizes as macros
    h = (out / "model.h").read_text()
    assert "int model_run(const float *const inputs[], float *const outputs[], void *arena);" in h
    assert "#define MODEL_ARENA_SIZE" in h and "#define MODEL_INPUT_0_SIZE 256" in h
    # no mutable globals in the library: every file-scope object is const
    c = (out / "model.c").read_text()
    assert "malloc" not in c
    for line in c.splitlines():
        if line.startswith("static ") or (line and not line[0].isspace() and "=" in line and "(" not in line):
            assert " const " in f" {line}", line


@pytest.mark.parametrize("name", ["digits_cnn", "pt_mobilenetv2_tiny", "pt_transformer_block",
                                  "op_conv3d_grouped_dilated", "op_maxpool3d"])
def test_every_target_gives_generic_bits(name, tmp_path, objcache):
    """Every target's build gives generic's bytes (a Conv3D runs each target's qc_conv_s8 per
    output depth slice through qc_conv3d_s8; a 3-D MaxPool is two 2-D ones)."""
    from qcompiler.codegen.c.backend import generate
    from qcompiler.quant_api import quantize

    entry = next(e for e in good_models() if e["name"] == name)
    data = [random_inputs(entry, seed=s) for s in range(4)]
    r = quantize(str(model_path(entry)), None, calib_data=data, options={"cache_dir": str(tmp_path / "cache")})
    feeds = {"input": digits_input()} if name == "digits_cnn" else random_inputs(entry, seed=9)
    outs = {}
    runs = [("generic", "host"), ("x86-avx2", "host"), ("x86-avx512vnni", "host"), ("arm-neon", "aarch64"),
            ("generic", "aarch64"), ("cortex-m", "cortex-m4"), ("generic", "cortex-m4")]  # fmt: skip
    cpu = Path("/proc/cpuinfo").read_text()
    runnable = {"x86-avx2": "avx2" in cpu, "x86-avx512vnni": "avx512_vnni" in cpu and "avx512bw" in cpu}
    for target, board in runs:
        if not cbuild.have(board) or not runnable.get(target, True):
            continue
        folder = tmp_path / f"{target}-{board}"
        folder.mkdir()
        generate(r.model, folder, target=target)
        if name.startswith("op_conv3d"):
            assert "qc_conv3d_s8(" in (folder / "model.c").read_text()
        if name == "op_maxpool3d":  # H and W, then D: both int8
            assert (folder / "model.c").read_text().count("qc_maxpool_s8(") == 2
        cbuild.build(folder, board, objcache)
        got = cbuild.run(folder, feeds, board)
        outs[(target, board)] = b"".join(got[k].tobytes() for k in sorted(got))
    assert len(outs) >= 2
    ref = outs[("generic", "host")]
    for k, v in outs.items():
        assert v == ref, f"{k} differs from generic on the host"


def test_output_is_deterministic(tmp_path):
    import qcompiler
    from qcompiler.quant_api import config_from_cli

    files = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        qcompiler.compile(str(DIGITS), str(out), config=config_from_cli(str(INI), None), backend="c",
                          options={"cache_dir": str(tmp_path / "cache"), "c_measure_flash": False})  # fmt: skip
        files.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert files[0] == files[1]


def test_float_model_compiles_without_quantization(tmp_path, objcache):
    out = tmp_path / "f"
    r = cli("compile", DIGITS, "--backend", "c", "-o", out, "--quiet")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert "qc_conv_f32" in (out / "model.c").read_text()


def test_unsupported_model_is_a_one_line_error_and_writes_nothing(tmp_path):
    entry = next(e for e in good_models() if e["name"] == "if_model")
    out = tmp_path / "out"
    r = cli("compile", model_path(entry), "--backend", "c", "-o", out)
    assert r.returncode != 0
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "control flow" in err and "node" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unknown_target_and_foreign_folder(tmp_path):
    r = cli("compile", DIGITS, "--backend", "c", "--target", "pdp11", "-o", tmp_path / "o")
    assert r.returncode != 0 and "unknown C target 'pdp11'" in r.stderr and "cortex-m" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    r = cli("compile", DIGITS, "--backend", "c", "-o", foreign)
    assert r.returncode != 0 and "not empty" in r.stderr, r.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    # a folder qcompiler wrote is replaced
    out = tmp_path / "gen"
    assert cli("compile", DIGITS, "--backend", "c", "-o", out, "--quiet").returncode == 0
    (out / "stale.c").write_text("")
    assert cli("compile", DIGITS, "--backend", "c", "-o", out, "--quiet").returncode == 0
    assert not (out / "stale.c").exists() and (out / "model.c").exists()


def test_dynamic_input_needs_a_shape(tmp_path):
    entry = next(e for e in good_models() if e["name"] == "dynamic_dims")
    r = cli("compile", model_path(entry), "--backend", "c", "-o", tmp_path / "o")
    assert r.returncode != 0 and "--input-shape" in r.stderr and "Traceback" not in r.stderr
    shape = ",".join(map(str, entry["input_shapes"]["x"]))
    r = cli("compile", model_path(entry), "--backend", "c", "-o", tmp_path / "o", "--input-shape", f"x:{shape}")
    assert r.returncode == 0, r.stderr
    _ = random_inputs


def test_a_dynamic_batch_alone_becomes_one_with_a_warning(tmp_path):
    """Generated C has static shapes; a model whose only free dimension is the batch compiles with
    batch 1 (TFLite's converter does the same), saying so; --input-shape still chooses."""
    entry = next(e for e in good_models() if e["name"] == "pt_resnet_dynamic_batch")
    r = cli("compile", model_path(entry), "--backend", "c", "-o", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ("qcompiler: warning: input 'input': dynamic batch dimension set to 1 for the C "
                                "backend (give --input-shape input:1,3,32,32 with another batch to choose)")
    assert "float32 [1, 3, 32, 32]" in (tmp_path / "o" / "model.h").read_text()
    r = cli("compile", model_path(entry), "--backend", "c", "-o", tmp_path / "o2", "--input-shape", "input:2,3,32,32")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "float32 [2, 3, 32, 32]" in (tmp_path / "o2" / "model.h").read_text()


def test_large_multiplier_saturates_instead_of_wrapping(tmp_path, objcache):
    """A conv whose s_x*s_w/s_y is far above 1 (accumulator times multiplier beyond int32) must
    saturate like onnxruntime, not wrap: it takes the float epilogue."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (4, 64, 3, 3)).astype(np.int8)
    inits = [numpy_helper.from_array(np.array(1.0, np.float32), "s1"), numpy_helper.from_array(np.array(0, np.int8), "z"),
             numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(1.0, np.float32), "sw"),
             numpy_helper.from_array(np.array(1.0 / 1024, np.float32), "sy")]  # fmt: skip
    nodes = [helper.make_node("QuantizeLinear", ["x", "s1", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s1", "z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "sw"], ["wd"]),
             helper.make_node("Conv", ["xd", "wd"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "sy", "z"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "sy", "z"], ["y"])]  # fmt: skip
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])], inits)  # fmt: skip
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    out = tmp_path / "c"
    r = cli("compile", path, "--backend", "c", "--pipeline", "", "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert ".act = 7" in (out / "model.c").read_text()
    cbuild.build(out, "host", objcache)
    x = rng.integers(-128, 128, (1, 64, 5, 5)).astype(np.float32)
    got = cbuild.run(out, {"x": x}, "host")["y"]
    import onnxruntime as ort

    # onnxruntime's reference semantics (no graph optimizations: float Conv between exact Q/DQ).
    # Its fused QLinearConv wraps some of these outputs on some CPUs (on an AVX2-only AMD EPYC,
    # 4 of 100 gave -128 for sums far above +127; on an AVX-512 VNNI one none did), so it is not
    # the reference for this edge.
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(str(path), so).run(None, {"x": x})[0].reshape(-1)
    assert set(np.unique(np.round(want * 1024))) <= {-128.0, 127.0}  # every output saturates
    xp = np.pad(x[0].astype(np.int64), ((0, 0), (1, 1), (1, 1)))
    acc = np.array([[[(xp[:, i:i + 3, j:j + 3] * w[co]).sum() for j in range(5)] for i in range(5)]
                    for co in range(4)])  # fmt: skip
    assert np.array_equal(np.where(acc > 0, 127, -128).reshape(-1) / 1024, want)  # the sums' signs
    assert np.max(np.abs(got - want)) <= 1.0 / 1024 + 1e-9


def test_skipped_layer_runs_float_in_c(tmp_path, objcache):
    """skip_quant_node keeps a layer float: the C program runs it with the float kernel between
    a dequantize and a quantize, and matches onnxruntime on the same QDQ model."""
    import onnxruntime as ort

    import qcompiler
    from qcompiler.codegen.c.backend import generate
    from qcompiler.codegen.onnx_backend import save_onnx
    from qcompiler.quant_api import config_from_cli, resolve_config

    cfg = resolve_config(config_from_cli(str(INI), None), skip_quant_node=["/conv3/Conv"])
    r = qcompiler.compile(str(DIGITS), None, config=cfg, backend="c", options={"cache_dir": str(tmp_path / "cache")})
    folder = tmp_path / "c"
    folder.mkdir()
    summary = generate(r.model, folder)
    assert summary["float ops"] == 1 and "qc_conv_f32" in (folder / "model.c").read_text()
    save_onnx(r.model.clone(), str(tmp_path / "q.onnx"))
    cbuild.build(folder, "host", objcache)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(tmp_path / "q.onnx"), so)
    for i in range(4):
        x = np.fromfile(sorted(CALIB.glob("*.bin"))[i], np.float32).reshape(1, 1, 16, 16)
        got = cbuild.run(folder, {"input": x}, "host", tag=f"s{i}")["logits"]
        want = s.run(None, {"input": x})[0].reshape(-1)
        step = float(r.model.graph.outputs[0].producer().input(1).const)
        assert np.max(np.abs(got - want)) <= step * 1.0001


def _token_model() -> "onnx.ModelProto":
    """A BERT-like head: int64 token ids -> embedding Gather, padding mask (Equal/Where), Cast,
    variadic Sum, Mod, comparisons, ArgMax with an int64 output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    emb = numpy_helper.from_array(rng.standard_normal((50, 16)).astype(np.float32), "emb")
    pos = numpy_helper.from_array(rng.standard_normal((1, 8, 16)).astype(np.float32), "pos")
    w = numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w")
    zero = numpy_helper.from_array(np.array(0, np.int64), "zero")
    neg = numpy_helper.from_array(np.array(-1e4, np.float32), "neg")
    three = numpy_helper.from_array(np.array(3.0, np.float32), "three")
    nodes = [helper.make_node("Gather", ["ids", "emb"][::-1], ["e"], axis=0),
             helper.make_node("Add", ["e", "pos"], ["h"]),
             helper.make_node("LayerNormalization", ["h", "ones", "zeros"], ["n"], axis=-1),
             helper.make_node("MatMul", ["n", "w"], ["s"]),
             helper.make_node("Equal", ["ids", "zero"], ["pad"]),
             helper.make_node("Unsqueeze", ["pad", "ax"], ["pad3"]),
             helper.make_node("Where", ["pad3", "neg", "s"], ["masked"]),
             helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
             helper.make_node("Sum", ["p", "n", "h"], ["tot"]),
             helper.make_node("Mod", ["tot", "three"], ["md"], fmod=1),
             helper.make_node("Greater", ["md", "zero_f"], ["pos_mask"]),
             helper.make_node("Not", ["pos_mask"], ["neg_mask"]),
             helper.make_node("Cast", ["neg_mask"], ["nm_f"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["md"], ["md_i"], to=TensorProto.INT32),
             helper.make_node("Cast", ["md_i"], ["md_f"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["md_f", "nm_f"], ["out"]),
             helper.make_node("ArgMax", ["p"], ["best"], axis=-1, keepdims=0)]  # fmt: skip
    inits = [emb, pos, w, zero, neg, three, numpy_helper.from_array(np.ones(16, np.float32), "ones"),
             numpy_helper.from_array(np.zeros(16, np.float32), "zeros"),
             numpy_helper.from_array(np.array([2], np.int64), "ax"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero_f")]  # fmt: skip
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 16]),
                           helper.make_tensor_value_info("best", TensorProto.INT64, [1, 8])], inits)  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_token_ids_masks_and_integer_outputs(tmp_path, objcache):
    """Integer graph inputs arrive as float32 values, integer outputs leave as float32 values;
    the float kernels cover gathers by runtime indices, masks, casts and arg-max."""
    import onnx
    import onnxruntime as ort

    m = _token_model()
    onnx.checker.check_model(m, full_check=True)
    path = tmp_path / "tok.onnx"
    onnx.save(m, path)
    out = tmp_path / "c"
    r = cli("compile", path, "--backend", "c", "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    cbuild.build(out, "host", objcache)
    ids = np.array([[5, 17, 0, 49, 3, 0, 22, 8]], np.int64)
    want = ort.InferenceSession(str(path)).run(None, {"ids": ids})
    got = cbuild.run(out, {"ids": ids.astype(np.float32)}, "host")
    np.testing.assert_allclose(got["out"], want[0].reshape(-1), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got["best"], want[1].reshape(-1).astype(np.float32))
