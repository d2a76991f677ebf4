"""Calibration data: folders of bin/npy/images (with preprocessing), iterables, readers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qcompiler.config import QuantConfig
from qcompiler.data import InputSpec, as_calibration_set, from_config, from_iterable
from qcompiler.errors import DataError

SPEC = InputSpec("x", (1, 3, 4, 4), np.dtype(np.float32))


def test_images_with_preprocessing(tmp_path):
    d = tmp_path / "img"
    d.mkdir()
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(raw).save(d / "a.png")
    cfg = QuantConfig.from_kwargs(calibrate_path=str(d), calibrate_size=5, input_type="IMAGE", image_to_format="BGR",
                                  resize_width=6, resize_height=6, resize_method="NEAREST", center_crop_width=4,
                                  center_crop_height=4, normalize_mean=[10, 20, 30], normalize_std=[2, 4, 8])
    cs = from_config(cfg, [SPEC])
    got = cs[0]["x"]
    resized = np.asarray(Image.fromarray(raw).resize((6, 6), Image.NEAREST), np.float32)[:, :, ::-1]
    want = ((resized[1:5, 1:5] - [10, 20, 30]) / [2, 4, 8]).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_multi_input_pairing_and_counts(tmp_path):
    specs = [InputSpec("a", (1, 2), np.dtype(np.float32)), InputSpec("b", (1, 3), np.dtype(np.float32))]
    for name, n, size in (("a", 3, 2), ("b", 3, 3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            (tmp_path / name / f"{i}.bin").write_bytes(np.full(size, i, np.float32).tobytes())
    cfg = QuantConfig.from_kwargs(calibrate_path=f"a:{tmp_path / 'a'},b:{tmp_path / 'b'}", calibrate_size=2)
    cs = from_config(cfg, specs)
    assert len(cs) == 2 and cs[1]["a"].tolist() == [[1, 1]] and cs[1]["b"].tolist() == [[1, 1, 1]]
    (tmp_path / "b" / "9.bin").write_bytes(np.zeros(3, np.float32).tobytes())
    with pytest.raises(DataError, match="different numbers of samples"):
        from_config(cfg, specs)
    with pytest.raises(DataError, match="does not have"):
        from_config(QuantConfig.from_kwargs(calibrate_path=f"c:{tmp_path / 'a'}"), specs)


def test_iterables_and_arrays():
    gen = lambda: (np.ones((3, 4, 4), np.float32) * i for i in range(4))  # noqa: E731
    cs = from_iterable(gen, [SPEC])
    assert len(cs) == 4 and cs[2]["x"].shape == (1, 3, 4, 4) and float(cs[2]["x"].max()) == 2.0
    cs2 = as_calibration_set(np.zeros((5, 3, 4, 4), np.float32), [SPEC])
    assert len(cs2) == 5
    with pytest.raises(DataError, match="sample #1"):
        from_iterable([np.zeros((1, 3, 4, 4), np.float32), np.zeros((2, 2), np.float32)], [SPEC])
    with pytest.raises(DataError, match="empty"):
        from_iterable([], [SPEC])


def test_integer_inputs_from_an_npy_folder(tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    from qcompiler.quant_api import quantize

    rng = np.random.default_rng(0)
    g = h.make_graph([h.make_node("Gather", ["emb", "ids"], ["e"]), h.make_node("MatMul", ["e", "w"], ["y"])], "g",
                     [h.make_tensor_value_info("ids", T.INT64, [1, 6])], [h.make_tensor_value_info("y", T.FLOAT, [1, 6, 8])],
                     [nh.from_array(rng.standard_normal((50, 16)).astype(np.float32), "emb"),
                      nh.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w")])
    src = tmp_path / "emb.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(src))
    calib = tmp_path / "ids"
    calib.mkdir()
    for i in range(8):
        np.save(calib / f"{i}.npy", rng.integers(0, 50, (1, 6)).astype(np.int64))
    out = tmp_path / "q.onnx"
    quantize(str(src), str(out), calib_data=str(calib), options={"cache_dir": str(tmp_path / "c")})
    ids = np.load(calib / "3.npy")
    got = ort.InferenceSession(str(out)).run(None, {"ids": ids})[0]
    want = ort.InferenceSession(str(src)).run(None, {"ids": ids})[0]
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()
