"""Calibration data: folders of ``.bin``/``.npy``/images, Python iterables, ORT data readers.

Everything becomes a :class:`CalibrationSet`: an ordered, re-iterable collection of samples
(``dict[input name, ndarray]``) with a label per sample (its file names) for messages and a
content digest per sample for the statistics cache.  Folder samples are read lazily, one at a
time.  Bad data is a :class:`~qcompiler.errors.DataError` naming the file (or sample index).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qcompiler.errors import DataError

__all__ = ["InputSpec", "CalibrationSet", "from_config", "from_iterable", "from_ort_reader",
           "as_calibration_set", "input_specs"]  # fmt: skip

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_SUFFIXES = {"BIN": (".bin",), "NPY": (".npy",), "IMAGE": _IMAGE_SUFFIXES}


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{np.dtype(self.dtype).name} [{','.join(map(str, self.shape))}]"


def input_specs(model: Any, *, label: str = "model") -> list[InputSpec]:
    """The inputs of an IR model; a symbolic batch dim is taken as 1, other symbolic dims fail."""
    specs = []
    for v in model.graph.inputs:
        t = v.tensor_type
        if t is None or t.shape.dims is None:
            raise DataError(f"{label}: input {v.name!r} has no known shape; give it with "
                            f"--input-shape {v.name}:D0,D1,...")  # fmt: skip
        dims = list(t.shape.dims)
        if dims and not isinstance(dims[0], int):
            dims[0] = 1
        if not all(isinstance(d, int) for d in dims):
            raise DataError(f"{label}: input {v.name!r} has dynamic dims {t.shape}; bind them with "
                            f"--input-shape {v.name}:D0,D1,...")  # fmt: skip
        specs.append(InputSpec(v.name, tuple(dims), t.dtype.numpy()))
    return specs


class CalibrationSet:
    """An ordered, re-iterable set of calibration samples.

    ``loaders[i]()`` returns sample ``i``; ``labels[i]`` names it (file names) and
    ``digests[i]`` is a hash of its content.
    """

    def __init__(self, loaders: Sequence[Callable[[], dict[str, np.ndarray]]], labels: Sequence[str],
                 digests: Sequence[str]):  # fmt: skip
        self._loaders = list(loaders)
        self.labels = list(labels)
        self.digests = list(digests)

    def __len__(self) -> int:
        return len(self._loaders)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for load in self._loaders:
            yield load()

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self._loaders[i]()

    def head(self, n: int) -> CalibrationSet:
        return CalibrationSet(self._loaders[:n], self.labels[:n], self.digests[:n])


def _check_sample(arr: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{where}: dtype {arr.dtype} cannot feed input {spec.name!r} ({spec.describe()})")
    want = np.dtype(spec.dtype)
    if want.kind == "f" and arr.dtype.kind != "f":
        raise DataError(f"{where}: integer data ({arr.dtype}) for float input {spec.name!r}; "
                        "convert it to float32 first")  # fmt: skip
    if tuple(arr.shape) != spec.shape:
        if tuple(arr.shape) == spec.shape[1:] and spec.shape[:1] == (1,):
            arr = arr.reshape(spec.shape)
        else:
            raise DataError(f"{where}: shape {list(arr.shape)} does not match input {spec.name!r} "
                            f"({spec.describe()})")  # fmt: skip
    arr = arr.astype(want, copy=False)
    if want.kind == "f" and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "Inf"
        raise DataError(f"{where}: contains {bad} values")
    return arr


def _read_bin(path: Path, spec: InputSpec) -> np.ndarray:
    want = int(np.prod(spec.shape)) * 4
    size = path.stat().st_size
    if size != want:
        raise DataError(f"{path}: {size} bytes, expected {want} bytes (float32 "
                        f"[{','.join(map(str, spec.shape))}] for input {spec.name!r})")  # fmt: skip
    return np.fromfile(path, dtype=np.float32).reshape(spec.shape)


def _read_npy(path: Path, spec: InputSpec) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None


def _read_image(path: Path, spec: InputSpec, params: Any) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if params is None:
        from qcompiler.config import QuantConfig

        params = QuantConfig().data_preprocess_param
    fmt = params.image_to_format or ("GRAY" if 1 in spec.shape[1:2] + spec.shape[-1:] else "RGB")
    try:
        with Image.open(path) as im:
            im = im.convert("L" if fmt == "GRAY" else "RGB")
            if params.resize_width and params.resize_height:
                method = {"LINEAR": Image.BILINEAR, "NEAREST": Image.NEAREST, "CUBIC": Image.BICUBIC}[
                    params.resize_method or "LINEAR"]
                im = im.resize((params.resize_width, params.resize_height), method)
            arr = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if fmt == "BGR":
        arr = arr[:, :, ::-1]
    cw, ch = params.center_crop_width, params.center_crop_height
    if cw and ch:
        h, w = arr.shape[:2]
        if cw > w or ch > h:
            raise DataError(f"{path}: center crop {cw}x{ch} is larger than the image ({w}x{h})")
        top, left = (h - ch) // 2, (w - cw) // 2
        arr = arr[top : top + ch, left : left + cw]
    if params.normalize_mean is not None:
        arr = arr - np.asarray(params.normalize_mean, np.float32)
    if params.normalize_std is not None:
        arr = arr / np.asarray(params.normalize_std, np.float32)
    channels_first = len(spec.shape) == 4 and spec.shape[1] in (1, 3) and spec.shape[3] not in (1, 3)
    if len(spec.shape) == 4 and spec.shape[1] in (1, 3) and spec.shape[1] == arr.shape[2]:
        channels_first = True
    out = np.ascontiguousarray(arr.transpose(2, 0, 1) if channels_first else arr)[None]
    return out


def _list_files(folder: str, input_type: str, input_name: str) -> list[Path]:
    p = Path(folder)
    if not p.exists():
        raise DataError(f"{folder}: calibration folder for input {input_name!r} does not exist")
    if not p.is_dir():
        raise DataError(f"{folder}: calibration path for input {input_name!r} is not a folder")
    suffixes = _SUFFIXES[input_type]
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
    if not files:
        raise DataError(f"{folder}: no {'/'.join(suffixes)} files for input {input_name!r} "
                        f"(input_type={input_type})")  # fmt: skip
    return files


def from_folders(folders: dict[str, str], specs: list[InputSpec], params: Any, *,
                 input_type: str = "BIN", size: int | None = None) -> CalibrationSet:  # fmt: skip
    """Samples from one folder per input, paired by sorted file names."""
    by_name = {s.name: s for s in specs}
    if "" in folders:
        if len(specs) != 1:
            raise DataError(f"calibrate_path {folders['']!r} gives one folder, but the model has "
                            f"{len(specs)} inputs ({', '.join(by_name)}); use name:dir,name2:dir2")  # fmt: skip
        folders = {specs[0].name: folders[""]}
    for name in folders:
        if name not in by_name:
            raise DataError(f"calibrate_path names input {name!r}, which the model does not have "
                            f"(inputs: {', '.join(by_name)})")  # fmt: skip
    for name in by_name:
        if name not in folders:
            raise DataError(f"calibrate_path has no folder for model input {name!r}")
    files = {name: _list_files(folder, input_type, name) for name, folder in folders.items()}
    counts = {name: len(f) for name, f in files.items()}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{folders[n]} has {c}" for n, c in counts.items())
        raise DataError(f"calibration folders hold different numbers of samples: {detail}")
    n = min(counts.values())
    if size is not None:
        n = min(n, size)
    readers = {"BIN": _read_bin, "NPY": _read_npy}

    def loader(i: int) -> Callable[[], dict[str, np.ndarray]]:
        def load() -> dict[str, np.ndarray]:
            sample = {}
            for name, spec in by_name.items():
                path = files[name][i]
                if input_type == "IMAGE":
                    arr = _read_image(path, spec, params)
                else:
                    arr = readers[input_type](path, spec)
                sample[name] = _check_sample(arr, spec, str(path))
            return sample

        return load

    labels = [",".join(str(files[name][i]) for name in by_name) for i in range(n)]
    digests = []
    for i in range(n):
        h = hashlib.sha256()
        for name in by_name:
            h.update(files[name][i].read_bytes())
        digests.append(h.hexdigest())
    return CalibrationSet([loader(i) for i in range(n)], labels, digests)


def from_config(config: Any, specs: list[InputSpec]) -> CalibrationSet:
    """The calibration set a QuantConfig's ``[data_preprocess_param]`` describes."""
    config.require_calibration_data()
    params = config.data_preprocess_param
    return from_folders(config.calibrate_paths(), specs, params, input_type=params.input_type,
                        size=params.calibrate_size)  # fmt: skip


def _to_sample(item: Any, specs: list[InputSpec], where: str) -> dict[str, np.ndarray]:
    if isinstance(item, dict):
        unknown = set(item) - {s.name for s in specs}
        if unknown:
            raise DataError(f"{where}: unknown input {sorted(unknown)[0]!r} (inputs: "
                            f"{', '.join(s.name for s in specs)})")  # fmt: skip
        missing = [s.name for s in specs if s.name not in item]
        if missing:
            raise DataError(f"{where}: no data for input {missing[0]!r}")
        return {s.name: _check_sample(np.asarray(item[s.name]), s, where) for s in specs}
    if isinstance(item, (tuple, list)):
        # Paddle sample generators yield the feeds in input order, possibly followed by a label.
        if len(item) < len(specs):
            raise DataError(f"{where}: {len(item)} arrays for {len(specs)} inputs")
        return {s.name: _check_sample(np.asarray(a), s, where) for s, a in zip(specs, item)}
    if len(specs) != 1:
        raise DataError(f"{where}: a single array for a model with {len(specs)} inputs")
    return {specs[0].name: _check_sample(np.asarray(item), specs[0], where)}


def _materialized(samples: list[dict[str, np.ndarray]], labels: list[str]) -> CalibrationSet:
    digests = []
    for s in samples:
        h = hashlib.sha256()
        for name in sorted(s):
            h.update(name.encode())
            h.update(np.ascontiguousarray(s[name]).tobytes())
        digests.append(h.hexdigest())
    return CalibrationSet([(lambda s=s: s) for s in samples], labels, digests)


def from_iterable(obj: Any, specs: list[InputSpec], size: int | None = None) -> CalibrationSet:
    """Paddle's ``sample_generator`` style (a callable returning an iterable) or an iterable."""
    source = obj() if callable(obj) else obj
    samples, labels = [], []
    for i, item in enumerate(source):
        if size is not None and i >= size:
            break
        samples.append(_to_sample(item, specs, f"calibration sample #{i}"))
        labels.append(f"sample #{i}")
    if not samples:
        raise DataError("the calibration data is empty")
    return _materialized(samples, labels)


def from_ort_reader(reader: Any, specs: list[InputSpec], size: int | None = None) -> CalibrationSet:
    """An onnxruntime ``CalibrationDataReader`` (``get_next()`` returns a dict or None)."""

    def gen() -> Iterable[Any]:
        while (item := reader.get_next()) is not None:
            yield item

    return from_iterable(gen(), specs, size)


def as_calibration_set(data: Any, specs: list[InputSpec], config: Any = None) -> CalibrationSet:
    """Whatever the user gave (folder, config, iterable, reader, array) as a CalibrationSet."""
    size = config.data_preprocess_param.calibrate_size if config is not None else None
    if isinstance(data, CalibrationSet):
        return data.head(size) if size else data
    if data is None:
        if config is None:
            raise DataError("no calibration data given")
        return from_config(config, specs)
    if isinstance(data, (str, os.PathLike)):
        params = config.data_preprocess_param if config is not None else None
        given = config is not None and ("data_preprocess_param", "input_type") in config.given
        input_type = params.input_type if given else _guess_type(Path(data))
        return from_folders({"": os.fspath(data)} if len(specs) == 1 else _split_dirs(os.fspath(data)),
                            specs, params, input_type=input_type, size=size)  # fmt: skip
    if hasattr(data, "get_next"):
        return from_ort_reader(data, specs, size)
    if isinstance(data, np.ndarray):
        if len(specs) != 1:
            raise DataError("a numpy array is calibration data only for single-input models")
        return from_iterable(list(data[:, None] if data.shape[1:] == specs[0].shape[1:] else data), specs, size)
    return from_iterable(data, specs, size)


def _split_dirs(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        name, sep, folder = part.partition(":")
        if not sep:
            raise DataError(f"calibration path {text!r}: a multi-input model needs name:dir,name2:dir2")
        out[name.strip()] = folder.strip()
    return out


def _guess_type(folder: Path) -> str:
    if folder.is_dir():
        suffixes = {f.suffix.lower() for f in folder.iterdir() if f.is_file()}
        if ".npy" in suffixes and ".bin" not in suffixes:
            return "NPY"
        if suffixes & set(_IMAGE_SUFFIXES) and ".bin" not in suffixes:
            return "IMAGE"
    return "BIN"
