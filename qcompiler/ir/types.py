"""Types of the qcompiler IR.

Every :class:`~qcompiler.ir.values.Value` carries a type.  Tensor values carry a
:class:`TensorType`: an element type and a :class:`Shape`.  The element type is either a plain
:class:`DType` (``float32``, ``int8``...) or a :class:`QuantType`, which makes quantization a
property of the type rather than a side table: a value of type
``QuantType(storage=INT8, scale=0.02, zero_point=-3)`` *is* an int8 tensor whose real value is
``(q - zero_point) * scale``.

Non-tensor ONNX types (sequences, maps, optionals) are carried through unchanged as
:class:`OpaqueType`, wrapping the ``onnx.TypeProto``.

Types are immutable and hashable; two types compare equal when they mean the same thing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

__all__ = [
    "DType",
    "Dim",
    "Shape",
    "QuantType",
    "TensorType",
    "OpaqueType",
    "Type",
    "ElementType",
]


class DType(enum.IntEnum):
    """Element types, numbered as ``onnx.TensorProto.DataType``."""

    UNDEFINED = 0
    FLOAT32 = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    FLOAT64 = 11
    UINT32 = 12
    UINT64 = 13
    COMPLEX64 = 14
    COMPLEX128 = 15
    BFLOAT16 = 16
    FLOAT8E4M3FN = 17
    FLOAT8E4M3FNUZ = 18
    FLOAT8E5M2 = 19
    FLOAT8E5M2FNUZ = 20
    UINT4 = 21
    INT4 = 22
    FLOAT4E2M1 = 23
    FLOAT8E8M0 = 24
    UINT2 = 25
    INT2 = 26

    @property
    def short(self) -> str:
        """Short printable name (``f32``, ``i8``, ``u4``...)."""
        return _SHORT.get(self, self.name.lower())

    @property
    def bits(self) -> int:
        return _BITS.get(self, 0)

    @property
    def is_float(self) -> bool:
        return self in _FLOATS

    @property
    def is_integer(self) -> bool:
        return self in _INT_RANGES

    @property
    def is_signed(self) -> bool:
        return self in _INT_RANGES and _INT_RANGES[self][0] < 0

    def int_range(self) -> tuple[int, int]:
        """``(min, max)`` of an integer type; raises ``ValueError`` for others."""
        try:
            return _INT_RANGES[self]
        except KeyError:
            raise ValueError(f"{self.name} is not an integer type") from None

    def numpy(self) -> np.dtype:
        """The numpy dtype values of this type are stored in (sub-byte types use a wider one)."""
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(self)))

    @classmethod
    def from_numpy(cls, dtype: np.dtype | type) -> DType:
        return cls(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    @classmethod
    def parse(cls, text: str) -> DType:
        """Parse a short or long name (``i8``, ``int8``, ``float32``)."""
        key = text.strip().lower()
        for member in cls:
            if key in (member.short, member.name.lower()):
                return member
        raise ValueError(f"unknown element type {text!r}")


_SHORT = {
    DType.FLOAT32: "f32",
    DType.FLOAT16: "f16",
    DType.BFLOAT16: "bf16",
    DType.FLOAT64: "f64",
    DType.INT8: "i8",
    DType.UINT8: "u8",
    DType.INT16: "i16",
    DType.UINT16: "u16",
    DType.INT32: "i32",
    DType.UINT32: "u32",
    DType.INT64: "i64",
    DType.UINT64: "u64",
    DType.INT4: "i4",
    DType.UINT4: "u4",
    DType.INT2: "i2",
    DType.UINT2: "u2",
    DType.BOOL: "bool",
    DType.STRING: "str",
}
_BITS = {
    DType.FLOAT32: 32, DType.FLOAT16: 16, DType.BFLOAT16: 16, DType.FLOAT64: 64,
    DType.INT8: 8, DType.UINT8: 8, DType.INT16: 16, DType.UINT16: 16, DType.INT32: 32,
    DType.UINT32: 32, DType.INT64: 64, DType.UINT64: 64, DType.INT4: 4, DType.UINT4: 4,
    DType.INT2: 2, DType.UINT2: 2, DType.BOOL: 8, DType.FLOAT8E4M3FN: 8,
    DType.FLOAT8E4M3FNUZ: 8, DType.FLOAT8E5M2: 8, DType.FLOAT8E5M2FNUZ: 8,
    DType.FLOAT4E2M1: 4, DType.FLOAT8E8M0: 8, DType.COMPLEX64: 64, DType.COMPLEX128: 128,
}  # fmt: skip
_FLOATS = frozenset({
    DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16, DType.FLOAT64, DType.FLOAT8E4M3FN,
    DType.FLOAT8E4M3FNUZ, DType.FLOAT8E5M2, DType.FLOAT8E5M2FNUZ, DType.FLOAT4E2M1,
    DType.FLOAT8E8M0,
})  # fmt: skip
_INT_RANGES = {
    DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767),
    DType.UINT16: (0, 65535), DType.INT32: (-(2**31), 2**31 - 1), DType.UINT32: (0, 2**32 - 1),
    DType.INT64: (-(2**63), 2**63 - 1), DType.UINT64: (0, 2**64 - 1), DType.INT4: (-8, 7),
    DType.UINT4: (0, 15), DType.INT2: (-2, 1), DType.UINT2: (0, 3),
}  # fmt: skip

#: A dimension: a static size, a symbolic name, or ``None`` (unknown).
Dim = int | str | None


@dataclass(frozen=True, slots=True)
class Shape:
    """A tensor shape: a tuple of static (``int``) and symbolic (``str``) dims, ``None`` unknown.

    ``Shape.unknown()`` (``dims is None``) means even the rank is unknown.
    """

    dims: tuple[Dim, ...] | None

    @classmethod
    def of(cls, dims: Iterable[Dim] | None) -> Shape:
        return cls(None if dims is None else tuple(dims))

    @classmethod
    def unknown(cls) -> Shape:
        return cls(None)

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    @property
    def is_static(self) -> bool:
        return self.dims is not None and all(isinstance(d, int) for d in self.dims)

    def numel(self) -> int | None:
        """Number of elements, or ``None`` when any dim is not static."""
        if not self.is_static:
            return None
        n = 1
        for d in self.dims:  # type: ignore[union-attr]
            n *= d  # type: ignore[operator]
        return n

    def static(self) -> tuple[int, ...]:
        """The dims as ints; raises ``ValueError`` if the shape is not static."""
        if not self.is_static:
            raise ValueError(f"shape {self} is not static")
        return tuple(self.dims)  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.dims is None:
            return "[*]"
        return "[" + ",".join("?" if d is None else str(d) for d in self.dims) + "]"


def _as_tuple(values: float | int | Sequence[float] | np.ndarray) -> tuple:
    arr = np.asarray(values)
    return tuple(arr.reshape(-1).tolist())


@dataclass(frozen=True, slots=True)
class QuantType:
    """A quantized element type: ``real = (stored - zero_point) * scale``.

    ``storage`` is the integer type values are stored in and ``bits`` how many of its bits are
    used (a 6-bit weight is stored in ``INT8`` with ``bits=6``).  ``expressed`` is the float
    type the values stand for.  ``axis`` is ``None`` for per-tensor quantization; otherwise the
    axis along which ``scale`` and ``zero_point`` vary (per-channel), and they are tuples with one
    entry per slice.  ``block_size`` (0 = none) supports blocked quantization along ``axis``.
    """

    storage: DType
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    bits: int = 0
    axis: int | None = None
    expressed: DType = DType.FLOAT32
    narrow_range: bool = False
    block_size: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(float(s) for s in _as_tuple(self.scale)))
        object.__setattr__(self, "zero_point", tuple(int(z) for z in _as_tuple(self.zero_point)))
        if not self.bits:
            object.__setattr__(self, "bits", self.storage.bits)
        if not self.storage.is_integer:
            raise ValueError(f"quantized storage must be an integer type, got {self.storage.name}")
        if len(self.scale) != len(self.zero_point):
            raise ValueError("scale and zero_point must have the same length")
        if self.axis is None and len(self.scale) != 1:
            raise ValueError("per-tensor quantization takes exactly one scale")
        if not all(s > 0 and np.isfinite(s) for s in self.scale):
            raise ValueError(f"scales must be finite and positive, got {self.scale}")
        if not 1 <= self.bits <= self.storage.bits:
            raise ValueError(f"bits={self.bits} does not fit storage {self.storage.name}")
        lo, hi = self.qrange()
        for z in self.zero_point:
            if not lo <= z <= hi:
                raise ValueError(f"zero point {z} outside [{lo}, {hi}]")

    @property
    def per_axis(self) -> bool:
        return self.axis is not None

    @property
    def signed(self) -> bool:
        return self.storage.is_signed

    def qrange(self) -> tuple[int, int]:
        """The integer range values may take given ``bits``, ``signed`` and ``narrow_range``."""
        if self.signed:
            lo, hi = -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
        else:
            lo, hi = 0, 2**self.bits - 1
        if self.narrow_range:
            lo += 1
        return lo, hi

    def scale_array(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float32)

    def zero_point_array(self) -> np.ndarray:
        return np.asarray(self.zero_point, dtype=self.storage.numpy())

    @property
    def short(self) -> str:
        if self.axis is None:
            q = f"{self.scale[0]:.6g},{self.zero_point[0]}"
        else:
            q = f"axis={self.axis},n={len(self.scale)}"
        b = "" if self.bits == self.storage.bits else f"/{self.bits}b"
        return f"!q<{self.storage.short}{b}:{q}>"

    def __str__(self) -> str:
        return self.short


ElementType = DType | QuantType


@dataclass(frozen=True, slots=True)
class TensorType:
    """Type of a tensor value: element type (plain or quantized) and shape."""

    elem: ElementType
    shape: Shape = Shape(None)

    @property
    def dtype(self) -> DType:
        """The storage dtype (the ``DType`` the tensor holds in memory)."""
        return self.elem.storage if isinstance(self.elem, QuantType) else self.elem

    @property
    def quant(self) -> QuantType | None:
        return self.elem if isinstance(self.elem, QuantType) else None

    @property
    def is_quantized(self) -> bool:
        return isinstance(self.elem, QuantType)

    def with_shape(self, shape: Shape | Iterable[Dim] | None) -> TensorType:
        return TensorType(self.elem, shape if isinstance(shape, Shape) else Shape.of(shape))

    def with_elem(self, elem: ElementType) -> TensorType:
        return TensorType(elem, self.shape)

    def __str__(self) -> str:
        elem = self.elem.short if isinstance(self.elem, (DType, QuantType)) else str(self.elem)
        return f"{elem}{self.shape}"


@dataclass(frozen=True, slots=True)
class OpaqueType:
    """A non-tensor ONNX type (sequence, map, optional) carried through as its serialized proto."""

    proto_bytes: bytes

    @classmethod
    def from_proto(cls, proto: onnx.TypeProto) -> OpaqueType:
        return cls(proto.SerializeToString(deterministic=True))

    def to_proto(self) -> onnx.TypeProto:
        t = onnx.TypeProto()
        t.ParseFromString(self.proto_bytes)
        return t

    def __str__(self) -> str:
        kind = self.to_proto().WhichOneof("value") or "unknown"
        return f"<{kind}>"


Type = TensorType | OpaqueType
