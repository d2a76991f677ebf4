"""The C program being built: buffers, constant arrays and the schedule of kernel calls.

A :class:`Buf` is storage: an arena region (planned later), a caller's input or output
pointer, or scratch of one step. A :class:`View` is a tensor in a buffer (element offset, shape,
C element type, int8 quantization), so Reshape/Flatten/Squeeze are views without a copy.
A :class:`Step` is one kernel call: its C text holds ``$B<id>$`` placeholders the emitter
replaces with pointers once the arena is planned, and lists the buffers it reads and writes so
liveness can be computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Buf", "View", "QParams", "Step", "Program", "CTYPES", "ACT_CODES", "c_float"]

#: fused activation -> QC_ACT_* code of a float epilogue (qc_common.h; Relu/Clip are clamps)
ACT_CODES = {"LeakyRelu": 1, "HardSigmoid": 2, "HardSwish": 3, "Sigmoid": 4, "Tanh": 5, "Silu": 6}

#: element kind -> (C type, bytes)
CTYPES = {"f32": ("float", 4), "s8": ("int8_t", 1), "i32": ("int32_t", 4)}


def c_float(x: float) -> str:
    """A C float literal that reads back as exactly float32(x)."""
    x = float(np.float32(x))
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    text = f"{x:.9g}"
    if "." not in text and "e" not in text and "n" not in text:
        text += ".0"
    return text + "f"


@dataclass(frozen=True)
class QParams:
    """An int8 tensor's quantization: real = (q - zp) * scale, q in [qmin, qmax] (int8 domain:
    a uint8 tensor of the model is stored shifted down by 128)."""

    scale: float
    zp: int
    qmin: int = -128
    qmax: int = 127

    def quantize(self, x: float) -> int:
        q = np.rint(np.float32(x) / np.float32(self.scale)) + self.zp
        return int(np.clip(q, self.qmin, self.qmax))


class Buf:
    """Storage. ``kind``: arena, scratch, input (caller's float pointer ``index``), output."""

    __slots__ = ("id", "kind", "nbytes", "index", "first", "last", "offset", "label")

    def __init__(self, id: int, kind: str, nbytes: int, index: int = -1, label: str = ""):
        self.id = id
        self.kind = kind
        self.nbytes = nbytes
        self.index = index
        self.first = -1
        self.last = -1
        self.offset = -1
        self.label = label

    def __repr__(self) -> str:
        return f"Buf({self.id},{self.kind},{self.nbytes}B,{self.label})"


@dataclass
class View:
    buf: Buf
    shape: tuple[int, ...]
    et: str  # "f32" | "s8" | "i32"
    q: QParams | None = None
    off: int = 0  # element offset in buf

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def ctype(self) -> str:
        return CTYPES[self.et][0]

    def reshaped(self, shape: tuple[int, ...]) -> View:
        return View(self.buf, tuple(shape), self.et, self.q, self.off)


@dataclass
class Step:
    code: str
    reads: list[Buf]
    writes: list[Buf]
    kernels: tuple[str, ...]
    op: str = ""
    what: str = ""
    macs: int = 0
    inplace: tuple[Buf, Buf] | None = None  # (input, output) that may share storage
    alias: tuple[Buf, Buf, int] | None = None  # a copy of a whole buffer into (dst, byte offset)


@dataclass
class ConstArray:
    name: str
    ctype: str
    values: np.ndarray
    align: int = 16


@dataclass
class Program:
    bufs: list[Buf] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    consts: list[ConstArray] = field(default_factory=list)
    structs: list[str] = field(default_factory=list)  # static const struct definitions
    inputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    outputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    _const_index: dict = field(default_factory=dict)
    _struct_index: dict = field(default_factory=dict)

    # ---- storage -------------------------------------------------------------------------
    def new_buf(self, kind: str, nbytes: int, index: int = -1, label: str = "") -> Buf:
        b = Buf(len(self.bufs), kind, int(nbytes), index, label)
        self.bufs.append(b)
        return b

    def new_view(self, shape, et: str, q: QParams | None = None, label: str = "") -> View:
        shape = tuple(int(d) for d in shape)
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        return View(self.new_buf("arena", n * CTYPES[et][1], label=label), shape, et, q)

    def scratch(self, nbytes: int, label: str = "scratch") -> Buf:
        return self.new_buf("scratch", max(int(nbytes), 1), label=label)

    # ---- constants -----------------------------------------------------------------------
    def const(self, values, ctype: str, base: str = "c") -> str:
        """A ``static const`` array (deduplicated); returns its C name."""
        np_t = {"float": np.float32, "int8_t": np.int8, "int32_t": np.int32, "uint8_t": np.uint8}[ctype]
        arr = np.ascontiguousarray(np.asarray(values).astype(np_t).reshape(-1))
        key = (ctype, arr.tobytes())
        name = self._const_index.get(key)
        if name is None:
            name = f"{base}{len(self.consts)}"
            self.consts.append(ConstArray(name, ctype, arr))
            self._const_index[key] = name
        return name

    def struct(self, ctype: str, body: str, base: str) -> str:
        """A ``static const`` struct (deduplicated); returns ``&name``."""
        key = (ctype, body)
        name = self._struct_index.get(key)
        if name is None:
            name = f"{base}{len(self.structs)}"
            self.structs.append(f"static const {ctype} {name} = {{{body}}};")
            self._struct_index[key] = name
        return "&" + name

    # ---- schedule ------------------------------------------------------------------------
    def ptr(self, v: View | Buf, et: str | None = None) -> str:
        if isinstance(v, Buf):
            return f"$B{v.id}:{et or 's8'}:0$"
        return f"$B{v.buf.id}:{et or v.et}:{v.off}$"

    def add(self, code: str, reads, writes, kernels, *, op: str = "", what: str = "", macs: int = 0,
            inplace=None, alias=None) -> Step:  # fmt: skip
        def bufs(xs):
            out = []
            for x in xs:
                b = x.buf if isinstance(x, View) else x
                if b is not None and b not in out:
                    out.append(b)
            return out

        if inplace is not None:
            # (input view, output view), or a list of such pairs the plan chooses from; only views
            # covering their whole buffer may share it (a view into a larger buffer, e.g. a slice,
            # must not overwrite the rest)
            pairs = []
            for vi, vo in (inplace if isinstance(inplace, list) else [inplace]):
                whole = all(isinstance(v, View) and v.off == 0 and v.size * CTYPES[v.et][1] == v.buf.nbytes
                            for v in (vi, vo))  # fmt: skip
                if whole:
                    pairs.append((vi.buf, vo.buf))
            inplace = pairs or None
        if alias is not None:
            # (source view, destination view, element offset): the copy disappears if the source
            # buffer can live inside the destination (Concat: producers write in place)
            src, dst, doff = alias
            whole = src.off == 0 and src.size * CTYPES[src.et][1] == src.buf.nbytes
            alias = (src.buf, dst.buf, (dst.off + doff) * CTYPES[dst.et][1]) if whole else None
        st = Step(code, bufs(reads), bufs(writes), tuple(kernels), op, what, int(macs), inplace, alias)
        self.steps.append(st)
        return st
