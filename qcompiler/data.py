"""Calibration data: folders of ``.bin``/``.npy``/images, Python iterables, ORT data readers.

Everything becomes a :class:`CalibrationSet`: an ordered, re-iterable collection of samples
(``dict[input name, ndarray]``) with a label per sample (its file names, or ``sample #i``) for
messages and a content digest per sample for the statistics cache.  Folder samples are read
lazily, one at a time, in sorted file-name order; multi-input folders pair files by that order.
Bad data is a :class:`~qcompiler.errors.DataError` naming the file (or the sample index).

Example::

    specs = [InputSpec("x", (1, 3, 224, 224), np.float32)]
    cs = as_calibration_set("calib/", specs)            # a folder of .bin/.npy/images
    cs = as_calibration_set(lambda: gen(), specs)       # Paddle's sample_generator
    for sample in cs: sess.run(None, sample)
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qcompiler.errors import ConfigError, DataError

__all__ = ["InputSpec", "CalibrationSet", "from_config", "from_folders", "from_iterable",
           "from_ort_reader", "as_calibration_set", "input_specs", "guess_input_type"]  # fmt: skip

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SUFFIXES = {"BIN": (".bin",), "NPY": (".npy",), "IMAGE": IMAGE_SUFFIXES}

Sample = dict[str, np.ndarray]


@dataclass(frozen=True)
class InputSpec:
    """A model input: name, static shape and numpy dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.dtype.name} [{','.join(map(str, self.shape))}]"


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


# -- the set ---------------------------------------------------------------------------------
class CalibrationSet:
    """An ordered, re-iterable set of calibration samples.

    Built from ``loaders`` (``loaders[i]()`` reads sample ``i``) or from ``stream`` (a callable
    returning a fresh iterator over all samples, for re-callable generators).  ``labels[i]``
    names sample ``i`` (file names); ``digests[i]`` is the sha256 of its content (computed on
    first access, one sample at a time, unless given).
    """

    __slots__ = ("_loaders", "_stream", "labels", "_digests", "_digest_fn")

    def __init__(self, loaders: Sequence[Callable[[], Sample]] | None, labels: Sequence[str],
                 digests: Sequence[str] | None = None, *, stream: Callable[[], Iterator[Sample]] | None = None,
                 digest_fn: Callable[[int], str] | None = None):  # fmt: skip
        if (loaders is None) == (stream is None):
            raise ValueError("give loaders or stream")
        self._loaders = list(loaders) if loaders is not None else None
        self._stream = stream
        self.labels = list(labels)
        self._digests = list(digests) if digests is not None else None
        self._digest_fn = digest_fn

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[Sample]:
        if self._loaders is not None:
            for load in self._loaders:
                yield load()
        else:
            assert self._stream is not None
            yield from itertools.islice(self._stream(), len(self))

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"calibration sample {i} out of range (the set has {len(self)})")
        i %= len(self)
        if self._loaders is not None:
            return self._loaders[i]()
        return next(itertools.islice(iter(self), i, None))

    @property
    def digests(self) -> list[str]:
        """One sha256 hex digest per sample."""
        if self._digests is None:
            if self._digest_fn is not None:
                self._digests = [self._digest_fn(i) for i in range(len(self))]
            else:
                self._digests = [sample_digest(s) for s in self]
        return self._digests

    def head(self, n: int) -> CalibrationSet:
        """The first ``n`` samples."""
        n = min(n, len(self))
        digests = self._digests[:n] if self._digests is not None else None
        fn = self._digest_fn
        if self._loaders is not None:
            return CalibrationSet(self._loaders[:n], self.labels[:n], digests, digest_fn=fn)
        return CalibrationSet(None, self.labels[:n], digests, stream=self._stream, digest_fn=fn)

    def __repr__(self) -> str:
        first = f", first {self.labels[0]}" if self.labels else ""
        return f"CalibrationSet({len(self)} samples{first})"


def sample_digest(sample: Mapping[str, np.ndarray]) -> str:
    """sha256 over each input's name, dtype, shape and bytes (in name order)."""
    h = hashlib.sha256()
    for name in sorted(sample):
        a = np.ascontiguousarray(sample[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# -- checking one array ----------------------------------------------------------------------
def _coerce(arr: Any, spec: InputSpec, where: str, *, typed: bool = True) -> np.ndarray:
    """``arr`` as ``spec``'s dtype and shape (a missing batch dim of 1 is added); ``typed``:
    ``arr`` came with a dtype of its own (integer data is not silently made float)."""
    a = np.asarray(arr)
    want = spec.dtype
    kind = a.dtype.kind
    if kind not in "fiub":
        raise DataError(f"{where}: dtype {a.dtype} cannot feed input {spec.name!r} ({spec.describe()})")
    if want.kind == "f" and kind != "f" and typed:
        what = f"integer data ({a.dtype})" if kind in "iu" else f"{a.dtype} data"
        raise DataError(f"{where}: {what} for float input {spec.name!r} ({spec.describe()}); "
                        "convert it to float32 (and normalize it) first")  # fmt: skip
    if want.kind in "iu" and kind == "f":
        raise DataError(f"{where}: float data ({a.dtype}) for integer input {spec.name!r} ({spec.describe()})")
    if want.kind == "b" and kind != "b":
        raise DataError(f"{where}: {a.dtype} data for bool input {spec.name!r}")
    if tuple(a.shape) != spec.shape:
        if spec.shape[:1] == (1,) and tuple(a.shape) == spec.shape[1:]:
            a = a.reshape(spec.shape)
        else:
            raise DataError(f"{where}: shape [{','.join(map(str, a.shape))}] does not match input "
                            f"{spec.name!r} ({spec.describe()})")  # fmt: skip
    if want.kind == "f":
        if not np.isfinite(a).all():
            bad = "NaN" if np.isnan(a).any() else "Inf"
            raise DataError(f"{where}: contains {bad} values (input {spec.name!r})")
        out = a.astype(want, copy=False)
        if not np.isfinite(out).all():
            raise DataError(f"{where}: values overflow {want.name} (input {spec.name!r})")
        return out
    if want.kind in "iu" and a.size and kind in "iu":
        info = np.iinfo(want)
        lo, hi = int(a.min()), int(a.max())
        if lo < info.min or hi > info.max:
            raise DataError(f"{where}: values in [{lo}, {hi}] do not fit {want.name} (input {spec.name!r})")
    return a.astype(want, copy=False)


# -- folders ---------------------------------------------------------------------------------
def _read_bin(path: Path, spec: InputSpec, params: Any) -> np.ndarray:
    size = path.stat().st_size
    if size != spec.nbytes:
        raise DataError(f"{path}: {size} bytes, expected {spec.nbytes} bytes ({spec.describe()} "
                        f"for input {spec.name!r})")  # fmt: skip
    return np.fromfile(path, dtype=spec.dtype).reshape(spec.shape)


def _read_npy(path: Path, spec: InputSpec, params: Any) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({' '.join(str(e).split())})") from None


def _image_layout(spec: InputSpec, path: Path) -> tuple[bool, int, int, int]:
    """(channels first, channels, height, width) of an image input."""
    s = spec.shape[1:] if len(spec.shape) == 4 else spec.shape
    if len(s) == 3 and s[0] in (1, 3):
        return True, s[0], s[1], s[2]
    if len(s) == 3 and s[2] in (1, 3):
        return False, s[2], s[0], s[1]
    raise DataError(f"{path}: input {spec.name!r} ({spec.describe()}) is not an image input: "
                    "expected [N,C,H,W] or [N,H,W,C] with C = 1 or 3")  # fmt: skip


def _read_image(path: Path, spec: InputSpec, params: Any) -> np.ndarray:
    """An image file through ``[data_preprocess_param]``: channel format, resize, center crop,
    normalize, then NCHW or NHWC as the input's shape says."""
    from PIL import Image, UnidentifiedImageError

    channels_first, channels, height, width = _image_layout(spec, path)
    fmt = params.image_to_format or ("GRAY" if channels == 1 else "RGB")
    if (fmt == "GRAY") != (channels == 1):
        raise DataError(f"{path}: image_to_format={fmt} gives {1 if fmt == 'GRAY' else 3} channels but "
                        f"input {spec.name!r} ({spec.describe()}) has {channels}")  # fmt: skip
    try:
        with Image.open(path) as im:
            im = im.convert("L" if fmt == "GRAY" else "RGB")
            if params.resize_width and params.resize_height:
                method = {"LINEAR": Image.Resampling.BILINEAR, "NEAREST": Image.Resampling.NEAREST,
                          "CUBIC": Image.Resampling.BICUBIC}[params.resize_method or "LINEAR"]  # fmt: skip
                im = im.resize((params.resize_width, params.resize_height), method)
            arr = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read image ({' '.join(str(e).split())})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if fmt == "BGR":
        arr = arr[:, :, ::-1]
    cw, ch = params.center_crop_width, params.center_crop_height
    if cw and ch:
        h, w = arr.shape[:2]
        if cw > w or ch > h:
            raise DataError(f"{path}: center crop {cw}x{ch} is larger than the image ({w}x{h} after resize)")
        top, left = (h - ch) // 2, (w - cw) // 2
        arr = arr[top : top + ch, left : left + cw]
    if arr.shape[:2] != (height, width):
        raise DataError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]} (WxH) after preprocessing but "
                        f"input {spec.name!r} ({spec.describe()}) takes {width}x{height}; set "
                        "resize_width/resize_height or center_crop_width/center_crop_height")  # fmt: skip
    for name in ("normalize_mean", "normalize_std"):
        vec = getattr(params, name)
        if vec is not None and len(vec) not in (1, channels):
            raise DataError(f"{path}: {name} has {len(vec)} values but the image has {channels} channel(s)")
    normalized = params.normalize_mean is not None or params.normalize_std is not None
    if params.normalize_mean is not None:
        arr = arr - np.asarray(params.normalize_mean, np.float32)
    if params.normalize_std is not None:
        arr = arr / np.asarray(params.normalize_std, np.float32)
    if spec.dtype.kind != "f":
        if normalized:
            raise DataError(f"{path}: input {spec.name!r} is {spec.dtype.name}; normalized images need a float input")
        arr = arr.astype(spec.dtype)
    out = np.ascontiguousarray(arr.transpose(2, 0, 1) if channels_first else arr)
    return out.reshape(spec.shape)


_READERS = {"BIN": _read_bin, "NPY": _read_npy, "IMAGE": _read_image}


def guess_input_type(folder: str | os.PathLike) -> str:
    """The ``input_type`` a folder's files imply: NPY, IMAGE or BIN (the default)."""
    p = Path(folder)
    suffixes = {f.suffix.lower() for f in p.iterdir() if f.is_file()} if p.is_dir() else set()
    if ".bin" in suffixes:
        return "BIN"
    if ".npy" in suffixes:
        return "NPY"
    if suffixes & set(IMAGE_SUFFIXES):
        return "IMAGE"
    return "BIN"


_guess_type = guess_input_type  # older name, used by qcompiler.quant_api


def _data_files(folder: str) -> bool:
    """Whether ``folder`` directly holds a file of any calibration type."""
    known = {x for sfx in SUFFIXES.values() for x in sfx}
    return any(f.is_file() and f.suffix.lower() in known for f in Path(folder).iterdir())


def _list_files(folder: str, input_type: str, input_name: str) -> list[Path]:
    p = Path(folder)
    if not p.exists():
        raise DataError(f"{folder}: calibration folder for input {input_name!r} does not exist")
    if not p.is_dir():
        raise DataError(f"{folder}: calibration path for input {input_name!r} is not a folder")
    suffixes = SUFFIXES[input_type]
    entries = [f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")]
    files = sorted((f for f in entries if f.suffix.lower() in suffixes), key=lambda f: f.name)
    if not files:
        found = sorted({f.suffix.lower() or "(no suffix)" for f in entries})
        dirs = sorted(f.name for f in p.iterdir() if f.is_dir() and not f.name.startswith("."))
        seen = (f"; it holds {', '.join(found)} files" if found else
                f"; it holds only folders ({', '.join(dirs[:4])}{', ...' if len(dirs) > 4 else ''}): name them "
                f"after the model's inputs, or write name:dir" if dirs else "; it is empty")  # fmt: skip
        raise DataError(f"{folder}: no {'/'.join(suffixes)} files for input {input_name!r} "
                        f"(input_type={input_type}){seen}")  # fmt: skip
    return files


def _recipe(input_type: str, spec: InputSpec, params: Any) -> bytes:
    """What besides the file bytes decides a sample's values (for its digest)."""
    pre = ""
    if input_type == "IMAGE" and params is not None:
        keys = ("image_to_format", "resize_width", "resize_height", "resize_method", "center_crop_width",
                "center_crop_height", "normalize_mean", "normalize_std")  # fmt: skip
        pre = repr([getattr(params, k) for k in keys])
    return f"{input_type}\0{spec.name}\0{spec.describe()}\0{pre}\0".encode()


def from_folders(folders: Mapping[str, str], specs: Sequence[InputSpec], params: Any = None, *,
                 input_type: str | None = None, size: int | None = None) -> CalibrationSet:  # fmt: skip
    """Samples from one folder per input (``{"": dir}`` for a single-input model), files paired
    by sorted name; ``size`` keeps the first ``size``; ``input_type`` None guesses it per folder."""
    from qcompiler.config import DataPreprocessParam

    params = params if params is not None else DataPreprocessParam.defaults()
    by_name = {s.name: s for s in specs}
    folders = dict(folders)
    if "" in folders and len(folders) == 1:
        # one folder holding a subfolder per input, named after it (DIR/ids/, DIR/mask/)
        sub = {s.name: os.path.join(folders[""], s.name) for s in specs}
        if all(os.path.isdir(d) for d in sub.values()) and not _data_files(folders[""]):
            folders = sub
    if "" in folders:
        if len(specs) != 1 or len(folders) != 1:
            raise DataError(f"calibrate_path {folders['']!r} gives one folder, but the model has "
                            f"{len(specs)} inputs ({', '.join(by_name)}); write name:dir,name2:dir2 or give a "
                            f"folder with a subfolder per input, named after it")  # fmt: skip
        folders = {specs[0].name: folders[""]}
    for name in folders:
        if name not in by_name:
            raise DataError(f"calibrate_path names input {name!r}, which the model does not have "
                            f"(inputs: {', '.join(by_name)})")  # fmt: skip
    for name in by_name:
        if name not in folders:
            raise DataError(f"calibrate_path has no folder for model input {name!r} (write {name}:DIR)")
    types = {n: input_type or guess_input_type(folders[n]) for n in by_name}
    files = {n: _list_files(folders[n], types[n], n) for n in by_name}
    counts = {n: len(f) for n, f in files.items()}
    if len(set(counts.values())) > 1:
        detail = " but ".join(f"{folders[n]} has {c}" for n, c in counts.items())
        raise DataError(f"calibration folders hold different numbers of samples: {detail} (files pair by sorted name)")
    n = next(iter(counts.values()))
    if size is not None:
        n = min(n, size)

    def loader(i: int) -> Callable[[], Sample]:
        def load() -> Sample:
            sample = {}
            for name, spec in by_name.items():
                path = files[name][i]
                arr = _READERS[types[name]](path, spec, params)
                sample[name] = _coerce(arr, spec, str(path))
            return sample

        return load

    def digest(i: int) -> str:
        h = hashlib.sha256()
        for name, spec in by_name.items():
            h.update(_recipe(types[name], spec, params))
            with open(files[name][i], "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()

    labels = [",".join(str(files[name][i]) for name in by_name) for i in range(n)]
    return CalibrationSet([loader(i) for i in range(n)], labels, digest_fn=digest)


def from_config(params: Any, specs: Sequence[InputSpec], base_dir: str | os.PathLike | None = None) -> CalibrationSet:
    """The calibration set ``[data_preprocess_param]`` describes.

    ``params`` is a :class:`~qcompiler.config.DataPreprocessParam` (relative folders resolve
    against ``base_dir``) or a whole :class:`~qcompiler.config.QuantConfig` (against its file's
    folder).  ConfigError if it has no ``calibrate_path``.
    """
    from qcompiler.config import QuantConfig, split_calibrate_path

    where = ""
    if isinstance(params, QuantConfig):
        params.require_calibration_data()
        where = f"{params.source}: [data_preprocess_param] "
        base_dir = params.base_dir if base_dir is None else base_dir
        params = params.data_preprocess_param
    if not params.calibrate_path:
        raise ConfigError(f"{where}calibrate_path is not set: no calibration data")
    folders = split_calibrate_path(params.calibrate_path, os.fspath(base_dir) if base_dir else None,
                                   [s.name for s in specs], where=where)  # fmt: skip
    return from_folders(folders, specs, params, input_type=params.input_type, size=params.calibrate_size)


# -- Python objects --------------------------------------------------------------------------
def _to_sample(item: Any, specs: Sequence[InputSpec], where: str) -> Sample:
    names = [s.name for s in specs]
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - set(names))
        if unknown:
            raise DataError(f"{where}: unknown input {unknown[0]!r} (inputs: {', '.join(names)})")
        missing = [n for n in names if n not in item]
        if missing:
            raise DataError(f"{where}: no data for input {missing[0]!r}")
        return {s.name: _coerce(item[s.name], s, f"{where} input {s.name!r}", typed=_typed(item[s.name]))
                for s in specs}  # fmt: skip
    if isinstance(item, (tuple, list)) and not (len(specs) == 1 and _is_nested_numbers(item)):
        # Paddle sample generators yield the feeds in input order, possibly followed by a label.
        if len(item) < len(specs):
            raise DataError(f"{where}: {len(item)} arrays for {len(specs)} inputs ({', '.join(names)})")
        return {s.name: _coerce(a, s, f"{where} input {s.name!r}", typed=_typed(a)) for s, a in zip(specs, item)}
    if len(specs) != 1:
        raise DataError(f"{where}: a single array for a model with {len(specs)} inputs ({', '.join(names)}); "
                        "give a dict or a tuple in input order")  # fmt: skip
    return {specs[0].name: _coerce(item, specs[0], where, typed=_typed(item))}


def _typed(a: Any) -> bool:
    return isinstance(a, (np.ndarray, np.generic))


def _is_nested_numbers(item: Sequence[Any]) -> bool:
    """A plain nested list of numbers (one array), not a tuple of arrays."""
    return isinstance(item, list) and all(isinstance(x, (int, float, list)) for x in item)


def from_iterable(obj: Any, specs: Sequence[InputSpec], size: int | None = None) -> CalibrationSet:
    """Paddle's ``sample_generator`` style: a callable returning an iterable (re-called on each
    pass, so one sample is in memory at a time), a sequence, or a one-shot iterable (read into
    memory).  Items are dicts, tuples/lists in input order, or one array for a single-input
    model; ``size`` keeps the first ``size``."""
    if isinstance(obj, (Sequence, np.ndarray)) and not isinstance(obj, (str, bytes)):
        items = obj if size is None else obj[:size]
        labels = [f"sample #{i}" for i in range(len(items))]
        if not labels:
            raise DataError("the calibration data is empty")
        for i, item in enumerate(items):  # validate everything up front
            _to_sample(item, specs, f"calibration sample #{i}")
        return CalibrationSet([(lambda i=i: _to_sample(items[i], specs, f"calibration sample #{i}"))
                               for i in range(len(items))], labels)  # fmt: skip
    if callable(obj):
        def stream() -> Iterator[Sample]:
            for i, item in enumerate(_call(obj)):
                if size is not None and i >= size:
                    return
                yield _to_sample(item, specs, f"calibration sample #{i}")

        digests = [sample_digest(s) for s in stream()]  # validates every sample once
        if not digests:
            raise DataError("the calibration data is empty: the sample generator yielded nothing")
        cs = CalibrationSet(None, [f"sample #{i}" for i in range(len(digests))], digests,
                            stream=lambda: _checked_stream(stream, len(digests)))  # fmt: skip
        return cs
    if not isinstance(obj, Iterable):
        raise DataError(f"calibration data of type {type(obj).__name__} is not a folder, iterable, "
                        "sample generator or data reader")  # fmt: skip
    samples = []
    for i, item in enumerate(obj):
        if size is not None and i >= size:
            break
        samples.append(_to_sample(item, specs, f"calibration sample #{i}"))
    if not samples:
        raise DataError("the calibration data is empty")
    return CalibrationSet([(lambda s=s: s) for s in samples], [f"sample #{i}" for i in range(len(samples))])


def _call(obj: Callable[[], Any]) -> Iterable[Any]:
    it = obj()
    if not isinstance(it, Iterable):
        raise DataError(f"the sample generator returned {type(it).__name__}, not an iterable")
    return it


def _checked_stream(stream: Callable[[], Iterator[Sample]], n: int) -> Iterator[Sample]:
    count = 0
    for s in stream():
        count += 1
        yield s
    if count < n:
        raise DataError(f"the sample generator yielded {count} samples on a later pass, {n} on the first")


def from_ort_reader(reader: Any, specs: Sequence[InputSpec], size: int | None = None) -> CalibrationSet:
    """An onnxruntime ``CalibrationDataReader`` (``get_next()`` returns a dict or None); read
    once into memory (readers are one-shot)."""

    def gen() -> Iterator[Any]:
        while (item := reader.get_next()) is not None:
            yield item

    return from_iterable(gen(), specs, size)


def _split_batch(arr: np.ndarray, spec: InputSpec, what: str) -> list[np.ndarray]:
    """An array ``[N, ...]`` as N samples of ``spec``'s shape (or its shape without batch dim)."""
    if arr.ndim == len(spec.shape) + 1 and tuple(arr.shape[1:]) == spec.shape:
        return list(arr)
    if arr.ndim == len(spec.shape) and tuple(arr.shape[1:]) == spec.shape[1:]:
        per = spec.shape[0]
        if per and arr.shape[0] % per == 0:
            return [arr[i : i + per] for i in range(0, arr.shape[0], per)]
    raise DataError(f"{what}: shape [{','.join(map(str, arr.shape))}] is not [N, ...] samples of input "
                    f"{spec.name!r} ({spec.describe()})")  # fmt: skip


def as_calibration_set(data: Any, specs: Sequence[InputSpec], config: Any = None) -> CalibrationSet:
    """Whatever the user gave as a CalibrationSet, ``calibrate_size`` of ``config`` applied.

    ``data`` may be a CalibrationSet; ``None`` (the config's ``calibrate_path``); a folder path
    (or ``"name:dir,name2:dir2"``), read with the config's preprocessing; a QuantConfig; an ORT
    data reader; a Paddle sample generator, iterable or list of dicts; a numpy array ``[N, ...]``
    (single-input models) or a dict of such arrays.
    """
    from qcompiler.config import QuantConfig, split_calibrate_path

    if isinstance(data, QuantConfig):
        config, data = data, None
    size = config.data_preprocess_param.calibrate_size if config is not None else None
    if isinstance(data, CalibrationSet):
        return data.head(size) if size else data
    if data is None:
        if config is None:
            raise DataError("no calibration data given: pass a folder, samples or a config with calibrate_path")
        return from_config(config, specs)
    if isinstance(data, (str, os.PathLike)):
        params = config.data_preprocess_param if config is not None else None
        input_type = params.input_type if params is not None else None
        text = os.fspath(data)
        folders = {"": text} if os.path.isdir(text) else split_calibrate_path(text, None, [s.name for s in specs])
        return from_folders(folders, specs, params, input_type=input_type, size=size)
    if hasattr(data, "get_next"):
        return from_ort_reader(data, specs, size)
    if isinstance(data, np.ndarray):
        if len(specs) != 1:
            raise DataError(f"a numpy array is calibration data only for single-input models; this one has "
                            f"{len(specs)} inputs ({', '.join(s.name for s in specs)}): give dicts")  # fmt: skip
        return from_iterable(_split_batch(data, specs[0], "calibration array"), specs, size)
    if isinstance(data, Mapping) and all(isinstance(v, np.ndarray) for v in data.values()):
        by_name = {s.name: s for s in specs}
        unknown = sorted(set(data) - set(by_name))
        if unknown:
            raise DataError(f"calibration data: unknown input {unknown[0]!r} (inputs: {', '.join(by_name)})")
        split = {n: _split_batch(a, by_name[n], f"calibration data for {n!r}") for n, a in data.items()}
        counts = {n: len(v) for n, v in split.items()}
        if len(set(counts.values())) > 1:
            raise DataError(f"calibration data: inputs hold different numbers of samples ({counts})")
        n = next(iter(counts.values()), 0)
        return from_iterable([{k: v[i] for k, v in split.items()} for i in range(n)], specs, size)
    return from_iterable(data, specs, size)
