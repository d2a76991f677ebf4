"""qcompiler.data: bin/npy/image folders (preprocessing numerics), pairing, bad data, adapters."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qcompiler.config import DataPreprocessParam, QuantConfig, load_config
from qcompiler.data import (
    CalibrationSet,
    InputSpec,
    as_calibration_set,
    from_config,
    from_iterable,
    from_ort_reader,
    guess_input_type,
)
from qcompiler.errors import ConfigError, DataError

F32 = np.dtype(np.float32)


def params(**kw) -> DataPreprocessParam:
    return QuantConfig.from_kwargs(**kw).data_preprocess_param


def write_bins(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        (folder / name).write_bytes(np.asarray(a, np.float32).tobytes())


# -- .bin ------------------------------------------------------------------------------------
def test_bin_folder_sorted_and_truncated(tmp_path):
    spec = InputSpec("x", (1, 2, 3), F32)
    rng = np.random.default_rng(0)
    arrays = {f"s{i:02d}.bin": rng.standard_normal((1, 2, 3)) for i in (3, 1, 12, 0)}
    write_bins(tmp_path / "d", arrays)
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    (tmp_path / "d" / ".hidden.bin").write_bytes(b"junk")  # dotfiles are ignored
    cs = from_config(params(calibrate_path="d", calibrate_size=3), [spec], base_dir=tmp_path)
    assert len(cs) == 3
    assert [lab.rsplit("/", 1)[-1] for lab in cs.labels] == ["s00.bin", "s01.bin", "s03.bin"]
    got = list(cs)
    for sample, name in zip(got, ["s00.bin", "s01.bin", "s03.bin"]):
        assert sample["x"].dtype == np.float32 and sample["x"].shape == (1, 2, 3)
        np.testing.assert_array_equal(sample["x"], arrays[name].astype(np.float32))
    assert len(from_config(params(calibrate_path=str(tmp_path / "d")), [spec])) == 4  # no size: all


def test_bin_wrong_size_names_file_and_expected_bytes(tmp_path):
    spec = InputSpec("x", (1, 3, 4, 4), F32)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.bin").write_bytes(np.zeros(40, np.float32).tobytes())
    cs = from_config(params(calibrate_path=str(tmp_path / "d")), [spec])
    with pytest.raises(DataError) as e:
        cs[0]
    assert str(e.value) == (f"{tmp_path / 'd' / 'a.bin'}: 160 bytes, expected 192 bytes "
                            "(float32 [1,3,4,4] for input 'x')")


def test_bin_of_an_integer_input(tmp_path):
    spec = InputSpec("ids", (1, 5), np.int64)
    (tmp_path / "d").mkdir()
    np.arange(5, dtype=np.int64).tofile(tmp_path / "d" / "a.bin")
    cs = from_config(params(calibrate_path=str(tmp_path / "d"), input_type="BIN"), [spec])
    assert cs[0]["ids"].dtype == np.int64 and cs[0]["ids"].tolist() == [[0, 1, 2, 3, 4]]


# -- .npy ------------------------------------------------------------------------------------
def test_npy_shapes_and_dtypes(tmp_path):
    spec = InputSpec("x", (1, 2, 2), F32)
    d = tmp_path / "n"
    d.mkdir()
    np.save(d / "a.npy", np.full((1, 2, 2), 1.5, np.float32))
    np.save(d / "b.npy", np.full((2, 2), 2.25, np.float64))  # no batch dim, float64: cast
    cs = from_config(params(calibrate_path=str(d)), [spec])  # input_type guessed: NPY
    a, b = list(cs)
    assert a["x"].dtype == b["x"].dtype == np.float32 and b["x"].shape == (1, 2, 2)
    assert float(b["x"][0, 1, 1]) == 2.25
    np.save(d / "c.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match=r"c\.npy: shape \[3,2\] does not match input 'x' \(float32 \[1,2,2\]\)"):
        list(from_config(params(calibrate_path=str(d)), [spec]))
    np.save(d / "c.npy", np.zeros((1, 2, 2), np.int32))
    with pytest.raises(DataError, match=r"c\.npy: integer data \(int32\) for float input 'x'"):
        list(from_config(params(calibrate_path=str(d)), [spec]))
    (d / "c.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match=r"c\.npy: not a readable \.npy file"):
        list(from_config(params(calibrate_path=str(d)), [spec]))
    ispec = InputSpec("ids", (1, 3), np.int64)
    (tmp_path / "i").mkdir()
    np.save(tmp_path / "i" / "a.npy", np.array([[1, 2, 3]], np.int32))
    assert as_calibration_set(str(tmp_path / "i"), [ispec])[0]["ids"].dtype == np.int64
    np.save(tmp_path / "i" / "a.npy", np.array([[1.0, 2, 3]]))
    with pytest.raises(DataError, match=r"float data \(float64\) for integer input 'ids'"):
        as_calibration_set(str(tmp_path / "i"), [ispec])[0]
    np.save(tmp_path / "i" / "a.npy", np.array([[1, 2, 2**40]], np.int64))
    with pytest.raises(DataError, match=r"values in \[1, 1099511627776\] do not fit int32"):
        as_calibration_set(str(tmp_path / "i"), [InputSpec("ids", (1, 3), np.int32)])[0]


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_samples_name_the_file(tmp_path, bad, word):
    spec = InputSpec("x", (1, 4), F32)
    write_bins(tmp_path / "d", {"a.bin": np.ones(4), "b.bin": [1, bad, 2, 3]})
    cs = from_config(params(calibrate_path=str(tmp_path / "d")), [spec])
    assert cs[0]["x"].sum() == 4
    with pytest.raises(DataError, match=rf"b\.bin: contains {word} values \(input 'x'\)"):
        list(cs)


# -- folders: empty, missing, pairing --------------------------------------------------------
def test_empty_and_unusable_folders(tmp_path):
    spec = InputSpec("x", (1, 4), F32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no \.bin files for input 'x' \(input_type=BIN\); it is empty"):
        from_config(params(calibrate_path=str(tmp_path / "empty")), [spec])
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("1 2 3 4")
    with pytest.raises(DataError, match=r"txt: no \.npy files for input 'x' \(input_type=NPY\); it holds \.txt files"):
        from_config(params(calibrate_path=str(tmp_path / "txt"), input_type="NPY"), [spec])
    with pytest.raises(DataError, match=r"nowhere: calibration folder for input 'x' does not exist"):
        from_config(params(calibrate_path=str(tmp_path / "nowhere")), [spec])
    with pytest.raises(ConfigError, match="calibrate_path is not set"):
        from_config(params(), [spec])
    with pytest.raises(ConfigError, match="FULL_QUANT needs calibration data"):
        from_config(QuantConfig.from_kwargs(), [spec])


def test_multi_input_pairing(tmp_path):
    specs = [InputSpec("a", (1, 2), F32), InputSpec("b", (1, 3), F32)]
    write_bins(tmp_path / "A", {f"{i}.bin": np.full(2, i) for i in range(4)})
    write_bins(tmp_path / "B", {f"{i}.bin": np.full(3, 10 + i) for i in range(4)})
    (tmp_path / "q.ini").write_text("[data_preprocess_param]\ncalibrate_path=b:B,a:A\ncalibrate_size=3\n")
    cfg = load_config(tmp_path / "q.ini")
    cs = from_config(cfg, specs)
    assert len(cs) == 3
    assert [(s["a"][0, 0], s["b"][0, 0]) for s in cs] == [(0, 10), (1, 11), (2, 12)]
    assert cs.labels[1] == f"{tmp_path / 'A' / '1.bin'},{tmp_path / 'B' / '1.bin'}"
    write_bins(tmp_path / "B", {"9.bin": np.zeros(3)})
    with pytest.raises(DataError) as e:
        from_config(cfg, specs)
    assert str(e.value) == (f"calibration folders hold different numbers of samples: {tmp_path / 'A'} has 4 "
                            f"but {tmp_path / 'B'} has 5 (files pair by sorted name)")
    with pytest.raises(DataError, match=r"calibrate_path names input 'c', which the model does not have \(inputs: a, b\)"):
        from_config(params(calibrate_path=f"a:{tmp_path / 'A'},c:{tmp_path / 'B'}"), specs)
    with pytest.raises(DataError, match=r"calibrate_path has no folder for model input 'b'"):
        from_config(params(calibrate_path=f"a:{tmp_path / 'A'}"), specs)
    with pytest.raises(DataError, match=r"gives one folder, but the model has 2 inputs \(a, b\)"):
        from_config(params(calibrate_path=str(tmp_path / "A")), specs)


def test_one_folder_with_a_subfolder_per_input(tmp_path):
    """--calib-data DIR where DIR holds one subfolder per model input, named after it."""
    specs = [InputSpec("a", (1, 2), F32), InputSpec("b", (1, 3), F32)]
    write_bins(tmp_path / "d" / "a", {f"{i}.bin": np.full(2, i) for i in range(3)})
    write_bins(tmp_path / "d" / "b", {f"{i}.bin": np.full(3, 10 + i) for i in range(3)})
    cs = from_config(params(calibrate_path=str(tmp_path / "d")), specs)
    assert [(s["a"][0, 0], s["b"][0, 0]) for s in cs] == [(0, 10), (1, 11), (2, 12)]
    # a single-input model too
    cs = from_config(params(calibrate_path=str(tmp_path / "d")), specs[1:])
    assert [s["b"][0, 0] for s in cs] == [10, 11, 12]
    # subfolders named otherwise: the message says what the folder holds
    write_bins(tmp_path / "e" / "first", {"0.bin": np.zeros(2)})
    with pytest.raises(DataError, match=r"e: no \.bin files for input 'a' \(input_type=BIN\); it holds only folders "
                                         r"\(first\): name them after the model's inputs, or write name:dir"):
        from_config(params(calibrate_path=str(tmp_path / "e")), specs[:1])


def test_loading_is_lazy_and_digests_follow_content(tmp_path):
    spec = InputSpec("x", (1, 2), F32)
    write_bins(tmp_path / "d", {"a.bin": [1, 2], "b.bin": [3, 4]})
    cs = from_config(params(calibrate_path=str(tmp_path / "d")), [spec])
    d1 = list(cs.digests)
    write_bins(tmp_path / "d", {"b.bin": [5, 6]})  # read when iterated, not when listed
    assert cs[1]["x"].tolist() == [[5, 6]]
    cs2 = from_config(params(calibrate_path=str(tmp_path / "d")), [spec])
    assert cs2.digests[0] == d1[0] and cs2.digests[1] != d1[1]
    assert all(len(d) == 64 for d in cs2.digests)
    assert cs2.head(1).digests == cs2.digests[:1] and len(cs2.head(1)) == 1


# -- images ----------------------------------------------------------------------------------
def pil_bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's BILINEAR (triangle filter, half-pixel centres, weights renormalized at the edges)
    as an [n_out, n_in] matrix, written out by hand for upscaling.  Pillow resizes horizontally,
    rounds to uint8, then vertically."""
    scale = n_in / n_out
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        centre = (o + 0.5) * scale
        for i in range(n_in):
            m[o, i] = max(0.0, 1.0 - abs(i + 0.5 - centre))
        m[o] /= m[o].sum()
    return m


def make_png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_image_linear_resize_crop_normalize_nchw(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)  # H=4, W=5
    make_png(tmp_path / "img" / "a.png", raw)
    spec = InputSpec("x", (1, 3, 6, 8), F32)
    p = params(calibrate_path=str(tmp_path / "img"), input_type="IMAGE", resize_width=10, resize_height=8,
               resize_method="LINEAR", center_crop_width=8, center_crop_height=6,
               normalize_mean=[10, 20, 30], normalize_std=[2, 4, 8])
    got = from_config(p, [spec])[0]["x"]
    wy, wx = pil_bilinear_weights(4, 8), pil_bilinear_weights(5, 10)
    horizontal = np.clip(np.floor(np.einsum("ijc,xj->ixc", raw.astype(np.float64), wx) + 0.5), 0, 255)
    resized = np.clip(np.floor(np.einsum("yi,ixc->yxc", wy, horizontal) + 0.5), 0, 255)
    cropped = resized[1:7, 1:9]  # (8 - 6) // 2 = 1 row, (10 - 8) // 2 = 1 column off each side
    want = ((cropped - [10, 20, 30]) / [2, 4, 8]).transpose(2, 0, 1)[None]
    assert got.shape == (1, 3, 6, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    # align-corners bilinear would be far off: the check above can fail
    lin_ac = np.interp(np.linspace(0, 3, 8), np.arange(4), raw[:, 0, 0].astype(float))
    assert np.abs(lin_ac - resized[:, 0, 0]).max() > 2


def test_image_nearest_gray_and_nhwc_bgr(tmp_path):
    rng = np.random.default_rng(2)
    raw = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)
    make_png(tmp_path / "img" / "a.png", raw)
    gray = np.asarray(Image.fromarray(raw).convert("L"), np.float32)
    spec = InputSpec("x", (1, 1, 6, 6), F32)
    p = params(calibrate_path=str(tmp_path / "img"), resize_width=6, resize_height=6, resize_method="NEAREST",
               normalize_mean=[127.5], normalize_std=[127.5])
    got = from_config(p, [spec])[0]["x"]  # GRAY from the input's single channel; IMAGE guessed
    want = (np.repeat(np.repeat(gray, 2, 0), 2, 1) - 127.5) / 127.5
    np.testing.assert_allclose(got[0, 0], want, rtol=0, atol=1e-6)
    nhwc = InputSpec("x", (1, 3, 3, 3), F32)  # [N,C,H,W] and [N,H,W,C] alike: NCHW wins
    got = from_config(params(calibrate_path=str(tmp_path / "img"), image_to_format="BGR"), [nhwc])[0]["x"]
    np.testing.assert_array_equal(got[0], raw[:, :, ::-1].transpose(2, 0, 1).astype(np.float32))
    nhwc = InputSpec("x", (1, 2, 2, 3), F32)  # H=2, W=2, C=3: NHWC
    got = from_config(params(calibrate_path=str(tmp_path / "img"), image_to_format="BGR", center_crop_width=2,
                             center_crop_height=2), [nhwc])[0]["x"]  # fmt: skip
    np.testing.assert_array_equal(got[0], raw[0:2, 0:2, ::-1].astype(np.float32))
    u8 = InputSpec("x", (1, 3, 3, 3), np.uint8)
    assert from_config(params(calibrate_path=str(tmp_path / "img")), [u8])[0]["x"].dtype == np.uint8


def test_image_cubic_and_errors(tmp_path):
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    make_png(tmp_path / "img" / "a.png", raw)
    Image.fromarray(raw).save(tmp_path / "img" / "b.jpg", quality=95)
    spec = InputSpec("x", (1, 3, 7, 7), F32)
    cs = from_config(params(calibrate_path=str(tmp_path / "img"), resize_width=7, resize_height=7,
                            resize_method="CUBIC"), [spec])  # fmt: skip
    a, b = list(cs)
    for got, im in ((a, Image.fromarray(raw)), (b, Image.open(tmp_path / "img" / "b.jpg").convert("RGB"))):
        want = np.asarray(im.resize((7, 7), Image.Resampling.BICUBIC), np.float32)
        np.testing.assert_array_equal(got["x"][0], want.transpose(2, 0, 1))
    d = str(tmp_path / "img")
    with pytest.raises(DataError, match=r"a\.png: image is 5x5 \(WxH\) after preprocessing but input 'x' .* takes 7x7"):
        from_config(params(calibrate_path=d), [spec])[0]
    with pytest.raises(DataError, match=r"a\.png: center crop 6x6 is larger than the image \(5x5 after resize\)"):
        from_config(params(calibrate_path=d, center_crop_width=6, center_crop_height=6), [spec])[0]
    with pytest.raises(DataError, match=r"image_to_format=GRAY gives 1 channels but input 'x' .* has 3"):
        from_config(params(calibrate_path=d, image_to_format="GRAY"), [spec])[0]
    with pytest.raises(DataError, match=r"normalize_mean has 3 values but the image has 1 channel"):
        from_config(params(calibrate_path=d, normalize_mean=[1, 2, 3]), [InputSpec("x", (1, 1, 5, 5), F32)])[0]
    with pytest.raises(DataError, match=r"input 'x' \(float32 \[1,10\]\) is not an image input"):
        from_config(params(calibrate_path=d), [InputSpec("x", (1, 10), F32)])[0]
    (tmp_path / "img" / "c.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"c\.png: cannot read image"):
        list(from_config(params(calibrate_path=d, resize_width=7, resize_height=7), [spec]))


def test_image_digest_depends_on_preprocessing(tmp_path):
    make_png(tmp_path / "img" / "a.png", np.zeros((4, 4, 3), np.uint8))
    spec = InputSpec("x", (1, 3, 4, 4), F32)
    d = str(tmp_path / "img")
    one = from_config(params(calibrate_path=d, normalize_mean=[1]), [spec]).digests
    assert one == from_config(params(calibrate_path=d, normalize_mean=[1]), [spec]).digests
    assert one != from_config(params(calibrate_path=d, normalize_mean=[2]), [spec]).digests


# -- Python objects --------------------------------------------------------------------------
SPEC = InputSpec("x", (1, 3), F32)


def test_sample_generator_is_recalled_lazily():
    calls = []

    def reader():
        calls.append(1)
        for i in range(5):
            yield (np.full((3,), i, np.float32), i % 2)  # Paddle: (feed, label)

    cs = from_iterable(reader, [SPEC], size=4)
    assert len(cs) == 4 and len(calls) == 1
    assert [float(s["x"][0, 0]) for s in cs] == [0, 1, 2, 3] and len(calls) == 2
    assert [float(s["x"][0, 2]) for s in cs] == [0, 1, 2, 3]
    assert cs[2]["x"].tolist() == [[2, 2, 2]] and cs.labels[2] == "sample #2"
    assert len(cs.digests) == 4 and len(set(cs.digests)) == 4
    n = iter([3, 1])

    def shrinking():
        yield from (np.zeros(3, np.float32) for _ in range(next(n)))

    with pytest.raises(DataError, match="yielded 1 samples on a later pass, 3 on the first"):
        list(from_iterable(shrinking, [SPEC]))


def test_iterable_validation_names_the_sample_index():
    good = np.zeros((1, 3), np.float32)
    with pytest.raises(DataError, match=r"calibration sample #1: shape \[2,2\] does not match input 'x'"):
        from_iterable([good, np.zeros((2, 2), np.float32)], [SPEC])
    with pytest.raises(DataError, match=r"calibration sample #2 input 'x': contains NaN values"):
        from_iterable(iter([{"x": good}, {"x": good}, {"x": np.array([1, np.nan, 2], np.float32)}]), [SPEC])
    with pytest.raises(DataError, match=r"calibration sample #0: unknown input 'y' \(inputs: x\)"):
        from_iterable([{"y": good}], [SPEC])
    with pytest.raises(DataError, match=r"calibration sample #0: integer data \(int64\) for float input 'x'"):
        from_iterable([np.arange(3)], [SPEC])
    with pytest.raises(DataError, match="empty"):
        from_iterable([], [SPEC])
    with pytest.raises(DataError, match="yielded nothing"):
        from_iterable(lambda: iter(()), [SPEC])
    two = [InputSpec("a", (1, 2), F32), InputSpec("b", (2,), np.int64)]
    with pytest.raises(DataError, match=r"calibration sample #0: a single array for a model with 2 inputs"):
        from_iterable([np.zeros((1, 2), np.float32)], two)
    with pytest.raises(DataError, match=r"calibration sample #0: no data for input 'b'"):
        from_iterable([{"a": np.zeros((1, 2), np.float32)}], two)
    cs = from_iterable([(np.ones(2, np.float32), np.array([4, 5])), {"b": [1, 2], "a": [[0.5, 1.5]]}], two)
    s0, s1 = list(cs)
    assert s0["b"].dtype == np.int64 and s1["a"].tolist() == [[0.5, 1.5]] and s1["b"].tolist() == [1, 2]
    assert [1.0, 2.0, 3.0] == from_iterable([[1.0, 2.0, 3.0]], [SPEC])[0]["x"][0].tolist()


def test_ort_calibration_data_reader():
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": np.full((1, 3), i, np.float32)} for i in range(6)])

        def get_next(self):
            return next(self.items, None)

    cs = from_ort_reader(Reader(), [SPEC])
    assert len(cs) == 6 and [float(s["x"][0, 0]) for s in cs] == list(range(6))
    assert [float(s["x"][0, 0]) for s in cs] == list(range(6))  # re-iterable
    cfg = QuantConfig.from_kwargs(calibrate_size=2)
    assert len(as_calibration_set(Reader(), [SPEC], cfg)) == 2


def test_as_calibration_set_dispatch(tmp_path):
    write_bins(tmp_path / "d", {f"{i}.bin": np.full(3, i) for i in range(5)})
    d = tmp_path / "d"
    assert len(as_calibration_set(str(d), [SPEC])) == 5
    assert len(as_calibration_set(d, [SPEC], QuantConfig.from_kwargs(calibrate_size=2))) == 2
    assert len(as_calibration_set(f"x:{d}", [SPEC])) == 5
    cfg = QuantConfig.from_kwargs(calibrate_path=str(d), calibrate_size=3)
    assert len(as_calibration_set(cfg, [SPEC])) == len(as_calibration_set(None, [SPEC], cfg)) == 3
    arr = np.arange(12, dtype=np.float32).reshape(4, 3)
    cs = as_calibration_set(arr, [SPEC])
    assert len(cs) == 4 and cs[3]["x"].tolist() == [[9, 10, 11]]
    assert len(as_calibration_set(arr[:, None, :], [SPEC])) == 4
    with pytest.raises(DataError, match=r"calibration array: shape \[4,2\] is not \[N, \.\.\.\] samples of input 'x'"):
        as_calibration_set(arr[:, :2], [SPEC])
    assert len(as_calibration_set([{"x": a} for a in arr], [SPEC])) == 4
    two = [InputSpec("a", (1, 2), F32), InputSpec("b", (1, 1), F32)]
    cs = as_calibration_set({"a": np.zeros((3, 2), np.float32), "b": np.ones((3, 1), np.float32)}, two)
    assert len(cs) == 3 and cs[2]["b"].shape == (1, 1)
    with pytest.raises(DataError, match="only for single-input models"):
        as_calibration_set(arr, two)
    assert as_calibration_set(cs, two) is cs
    assert len(as_calibration_set(cs, two, QuantConfig.from_kwargs(calibrate_size=1))) == 1
    with pytest.raises(DataError, match="no calibration data given"):
        as_calibration_set(None, [SPEC])
    with pytest.raises(DataError, match="calibration data of type int is not a folder"):
        as_calibration_set(5, [SPEC])
    assert isinstance(cs, CalibrationSet) and "3 samples" in repr(cs)


def test_guess_input_type(tmp_path):
    for name, files in {"b": ["a.bin"], "n": ["a.npy"], "i": ["a.PNG", "b.jpeg"], "e": []}.items():
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_bytes(b"")
    assert [guess_input_type(tmp_path / n) for n in "bnie"] == ["BIN", "NPY", "IMAGE", "BIN"]
