"""Quantization arithmetic: integer ranges, scales and zero points, weight and bias quantization.

``real = (q - zero_point) * scale``.  Ranges always contain 0 so that zero is exact; symmetric
ranges put the zero point at 0 (signed) or the middle of the range (unsigned).  See
``specs/quantization.md``.
"""

from __future__ import annotations

import numpy as np

from qcompiler.ir import DType, QuantType

__all__ = ["qrange", "weight_qrange", "REDUCED_RANGE", "storage_type", "scale_zero_point", "quantize_tensor", "quantize_blocked", "quantize_bias",
           "dequantize", "dequantize_blocked"]


def storage_type(bits: int, signed: bool) -> DType:
    if bits <= 8:
        return DType.INT8 if signed else DType.UINT8
    return DType.INT16 if signed else DType.UINT16


def qrange(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return (lo + 1 if narrow else lo), hi


def scale_zero_point(lo: float, hi: float, bits: int, signed: bool, symmetric: bool,
                     narrow: bool = False) -> tuple[float, int]:  # fmt: skip
    """Scale and zero point mapping ``[lo, hi]`` (widened to contain 0) onto ``bits``."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    qmin, qmax = qrange(bits, signed, narrow)
    if symmetric:
        amax = max(-lo, hi)
        half = (qmax - qmin) // 2
        scale = amax / half if amax > 0 else 1.0
        zp = 0 if signed else (qmin + qmax + 1) // 2
        return float(np.float32(scale)), int(zp)
    span = hi - lo
    scale = span / (qmax - qmin) if span > 0 else 1.0
    scale = float(np.float32(scale))
    zp = int(np.clip(np.round(qmin - lo / scale), qmin, qmax))
    return scale, zp


def _channel_params(flat: np.ndarray, bits: int, signed: bool, symmetric: bool, narrow: bool,
                    search: bool, qr: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-row scales and zero points: min/max, or (``search``) the clipped range with the least
    squared error, all rows at once.

    At 6 bits and below rounding error dominates and clipping a few extreme weights pays: the range is
    shrunk in steps of 2.5% down to 40% and, per row, the factor with the least error kept.
    ``qr`` overrides the integer range.
    """
    qmin, qmax = qr if qr is not None else qrange(bits, signed, narrow)
    lo = np.minimum(flat.min(axis=1), 0.0).astype(np.float64) if flat.size else np.zeros(len(flat))
    hi = np.maximum(flat.max(axis=1), 0.0).astype(np.float64) if flat.size else np.zeros(len(flat))

    def params(f: float) -> tuple[np.ndarray, np.ndarray]:
        a, b = lo * f, hi * f
        if symmetric:
            amax = np.maximum(-a, b)
            scale = np.where(amax > 0, amax / ((qmax - qmin) // 2), 1.0).astype(np.float32)
            zp = np.full(len(flat), 0 if signed else (qmin + qmax + 1) // 2, np.int64)
        else:
            span = b - a
            scale = np.where(span > 0, span / (qmax - qmin), 1.0).astype(np.float32)
            zp = np.clip(np.round(qmin - a / scale), qmin, qmax).astype(np.int64)
        return scale, zp

    best_s, best_z = params(1.0)
    if not search or flat.size == 0:
        return best_s, best_z
    x = flat.astype(np.float64)

    def err(scale: np.ndarray, zp: np.ndarray) -> np.ndarray:
        s, z = scale[:, None].astype(np.float64), zp[:, None]
        q = np.clip(np.round(x / s) + z, qmin, qmax)
        return np.sum(((q - z) * s - x) ** 2, axis=1)

    best_e = err(best_s, best_z)
    for f in np.arange(0.975, 0.39, -0.025):
        s_, z_ = params(f)
        e = err(s_, z_)
        better = e < best_e
        best_s, best_z, best_e = np.where(better, s_, best_s), np.where(better, z_, best_z), np.minimum(e, best_e)
    return best_s, best_z


def _bshape(ndim: int, axis: int | None) -> list[int]:
    shape = [1] * ndim
    if axis is not None:
        shape[axis] = -1
    return shape


#: onnxruntime's reduce_range weights: symmetric signed "7-bit" weights on [-64, 64].
REDUCED_RANGE = (-64, 64)


def weight_qrange(bits: int, signed: bool, narrow: bool, reduce_range: bool = False) -> tuple[int, int]:
    """The integer range of a weight: :func:`qrange`, but :data:`REDUCED_RANGE` for the 7-bit
    symmetric signed weights of ``reduce_range``."""
    if reduce_range and bits == 7 and signed:
        return REDUCED_RANGE
    return qrange(bits, signed, narrow)


def quantize_tensor(w: np.ndarray, bits: int, *, axis: int | None, symmetric: bool = True,
                    signed: bool = True, narrow: bool = False,
                    reduce_range: bool = False) -> tuple[np.ndarray, QuantType]:  # fmt: skip
    """Quantize a constant per tensor (``axis=None``) or per channel along ``axis``.

    ``reduce_range`` with 7 symmetric signed bits gives onnxruntime's reduce-range weights:
    max |w| maps to 64 and values lie in [-64, 64] (129 levels, where a true 7-bit range has 127:
    |w| <= 64 is what keeps the sum of two uint8 x int8 products within int16, the reason for
    the option).  They are stored as 8-bit (narrow) values."""
    w = np.asarray(w, dtype=np.float32)
    if axis is not None:
        axis %= w.ndim
        flat = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    else:
        flat = w.reshape(1, -1)
    if symmetric and bits > 1 and signed:
        narrow = True  # a symmetric signed range is [-(2^(b-1)-1), 2^(b-1)-1]
    reduced = reduce_range and symmetric and signed and bits == 7
    qmin, qmax = weight_qrange(bits, signed, narrow, reduced)
    scale, zp = _channel_params(flat, bits, signed, symmetric and bits > 1, narrow, search=bits <= 6,
                                qr=(qmin, qmax))  # fmt: skip
    scale = scale.astype(np.float32)
    if reduced:
        bits = 8
    shape = _bshape(w.ndim, axis)
    s = scale.reshape(shape) if axis is not None else scale.reshape(())
    z = zp.reshape(shape) if axis is not None else zp.reshape(())
    storage = storage_type(bits, signed)
    q = np.clip(np.round(w / s) + z, qmin, qmax).astype(storage.numpy())
    qt = QuantType(storage, tuple(scale.tolist()), tuple(zp.tolist()), bits=bits, axis=axis,
                   narrow_range=narrow)  # fmt: skip
    return q, qt


def quantize_blocked(w: np.ndarray, bits: int, *, axis: int, block_size: int) -> tuple[np.ndarray, np.ndarray, QuantType]:
    """Symmetric signed ``bits``-bit quantization with one scale per ``block_size`` consecutive
    elements along ``axis`` (ONNX DequantizeLinear-21 ``block_size``; onnxruntime's
    MatMulNBits layout for a MatMul weight ``[K, N]`` blocked along K).

    Returns ``(q, scale, qt)``: ``q`` like ``w``; ``scale`` with ``w``'s shape except
    ``ceil(shape[axis] / block_size)`` along ``axis``; ``qt`` carries ``axis`` and
    ``block_size`` (its scale tuple is ``scale`` flattened).  A last, shorter block is allowed.
    """
    w = np.asarray(w, dtype=np.float32)
    axis %= w.ndim
    k = w.shape[axis]
    nb = -(-k // block_size)
    moved = np.moveaxis(w, axis, -1)  # [..., K]
    padded = np.zeros((*moved.shape[:-1], nb * block_size), np.float32)
    padded[..., :k] = moved
    rows = padded.reshape(-1, block_size)  # one row per block
    scale, _ = _channel_params(rows, bits, True, True, True, search=bits <= 6)
    scale = scale.astype(np.float32)
    qmin, qmax = qrange(bits, True, True)
    q = np.clip(np.round(rows / scale[:, None]), qmin, qmax).reshape(padded.shape)[..., :k]
    storage = storage_type(bits, True)
    q = np.moveaxis(q, -1, axis).astype(storage.numpy())
    scale_arr = np.moveaxis(scale.reshape(*moved.shape[:-1], nb), -1, axis)
    qt = QuantType(storage, tuple(scale_arr.reshape(-1).tolist()), (0,) * scale_arr.size, bits=bits, axis=axis,
                   narrow_range=True, block_size=block_size)  # fmt: skip
    return q, scale_arr, qt


def dequantize_blocked(q: np.ndarray, scale: np.ndarray, axis: int, block_size: int) -> np.ndarray:
    """``q * scale`` with each scale repeated over its block along ``axis`` (zero point 0)."""
    axis %= q.ndim
    rep = np.repeat(np.asarray(scale, np.float32), block_size, axis=axis)
    rep = np.take(rep, np.arange(q.shape[axis]), axis=axis)
    return q.astype(np.float32) * rep


def dequantize(q: np.ndarray, qt: QuantType) -> np.ndarray:
    scale = np.asarray(qt.scale, np.float32)
    zp = np.asarray(qt.zero_point, np.float32)
    if qt.axis is not None:
        shape = _bshape(q.ndim, qt.axis)
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    else:
        scale, zp = scale.reshape(()), zp.reshape(())
    return (q.astype(np.float32) - zp) * scale


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 bias with scale ``input_scale * weight_scale[c]``; returns (values, scales)."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, np.float32)).astype(np.float32)
    scales = np.where(scales > 0, scales, np.float32(1e-12))
    q = np.clip(np.round(np.asarray(b, np.float64) / scales), -(2**31), 2**31 - 1).astype(np.int32)
    return q, scales
