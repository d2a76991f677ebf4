"""Fixed-point arithmetic of the C kernels, in Python: the parameters the generated code holds
and numpy models of what the kernels compute with them (used by the lowering and by tests).

The rules (specs/c-api.md, "Arithmetic"):

- A real multiplier ``r > 0`` is ``mult * 2**-shift`` with ``mult`` a Q31 integer in
  ``[2**30, 2**31)`` and ``1 <= shift <= 62``; ``apply(x) = (x * mult + 2**(shift-1)) >> shift``
  in 64-bit integers (round half up). Multipliers too small for shift 62 keep shift 62 with a
  smaller ``mult`` (their products round to 0 or tiny values anyway); negative multipliers
  (Sub's second operand) are the negated positive one.
- Add/Sub follow TFLite: both inputs are lifted by ``2**left_shift`` (20) and rescaled to twice
  the larger input scale before the sum is requantized to the output.
- Elementwise functions of one int8 input are 256-entry tables computed here in float32 with
  round-half-to-even, the way onnxruntime quantizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "quantize_multiplier",
    "mulq",
    "requantize",
    "add_params",
    "mul_params",
    "lut_table",
    "quantize_f32",
    "LEFT_SHIFT",
]

LEFT_SHIFT = 20
_MAX_SHIFT = 62


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``real ~= mult * 2**-shift``; raises ValueError for ``real >= 2**30`` or not finite."""
    if not math.isfinite(real):
        raise ValueError(f"multiplier {real!r} is not finite")
    if real == 0.0:
        return 0, 1
    sign = -1 if real < 0 else 1
    mant, exp = math.frexp(abs(real))  # abs(real) = mant * 2**exp, mant in [0.5, 1)
    mult = int(round(mant * (1 << 31)))
    if mult == 1 << 31:
        mult //= 2
        exp += 1
    shift = 31 - exp
    if shift < 1:
        raise ValueError(f"multiplier {real!r} is too large for fixed point")
    if shift > _MAX_SHIFT:
        mult = int(round(abs(real) * 2.0**_MAX_SHIFT))
        shift = _MAX_SHIFT
    return sign * mult, shift


def mulq(x: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """What ``qc_mulq`` computes, elementwise (int64 in, int64 out)."""
    x = np.asarray(x, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    # x * mult fits in 63 bits for int32 operands; Python ints would be exact too.
    return (x * mult + (np.int64(1) << (shift - 1))) >> shift


def requantize(acc: np.ndarray, mult, shift, zp: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """``qc_requant`` on the fixed-point path: int8 from int32 accumulators."""
    return np.clip(mulq(acc, mult, shift) + zp, qmin, qmax).astype(np.int8)


def quantize_f32(x: np.ndarray, scale: float, zp: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """``qc_quantize_one``: round half to even of x/scale (float32), plus zp, clamped."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.rint(x / np.float32(scale)) + np.float32(zp)
    q = np.where(np.isnan(q), qmin, q)
    return np.clip(q, qmin, qmax).astype(np.int8)


def add_params(sa: float, za: int, sb: float, zb: int, sy: float, zy: int, qmin: int = -128,
               qmax: int = 127, subtract: bool = False) -> dict[str, int]:
    """Fields of ``qc_add_params_t`` for y = a + b (or a - b)."""
    twice_max = 2.0 * max(sa, sb)
    a_mult, a_shift = quantize_multiplier(sa / twice_max)
    b_mult, b_shift = quantize_multiplier(sb / twice_max)
    y_mult, y_shift = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * sy))
    if subtract:
        b_mult = -b_mult
    return dict(a_zp=za, b_zp=zb, y_zp=zy, left_shift=LEFT_SHIFT, a_mult=a_mult, a_shift=a_shift,
                b_mult=b_mult, b_shift=b_shift, y_mult=y_mult, y_shift=y_shift, qmin=qmin,
                qmax=qmax)


def add_reference(a: np.ndarray, b: np.ndarray, p: dict[str, int]) -> np.ndarray:
    """numpy model of ``qc_add_s8`` (broadcasting as numpy does)."""
    a = (np.asarray(a, np.int64) - p["a_zp"]) << p["left_shift"]
    b = (np.asarray(b, np.int64) - p["b_zp"]) << p["left_shift"]
    s = mulq(a, p["a_mult"], p["a_shift"]) + mulq(b, p["b_mult"], p["b_shift"])
    return np.clip(mulq(s, p["y_mult"], p["y_shift"]) + p["y_zp"], p["qmin"], p["qmax"]).astype(np.int8)


def mul_params(sa: float, za: int, sb: float, zb: int, sy: float, zy: int, qmin: int = -128,
               qmax: int = 127) -> dict[str, int]:
    """Fields of ``qc_mul_params_t``: y = zy + requant((a - za) * (b - zb), sa*sb/sy)."""
    mult, shift = quantize_multiplier(sa * sb / sy)
    return dict(a_zp=za, b_zp=zb, y_zp=zy, mult=mult, shift=shift, qmin=qmin, qmax=qmax)


def mul_reference(a: np.ndarray, b: np.ndarray, p: dict[str, int]) -> np.ndarray:
    """numpy model of ``qc_mul_s8``."""
    prod = (np.asarray(a, np.int64) - p["a_zp"]) * (np.asarray(b, np.int64) - p["b_zp"])
    return np.clip(mulq(prod, p["mult"], p["shift"]) + p["y_zp"], p["qmin"], p["qmax"]).astype(np.int8)


def lut_table(fn: Callable[[np.ndarray], np.ndarray], si: float, zi: int, so: float, zo: int,
              qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """``table[q + 128] = quantize(fn(dequantize(q)))`` for every int8 q (float32 math)."""
    q = np.arange(-128, 128, dtype=np.int32)
    x = (q - np.int32(zi)).astype(np.float32) * np.float32(si)
    with np.errstate(all="ignore"):
        y = np.asarray(fn(x), dtype=np.float32)
    return quantize_f32(y, so, zo, qmin, qmax)
