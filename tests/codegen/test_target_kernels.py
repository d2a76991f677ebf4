"""Target-optimized int8 kernels (codegen/c/kernels/<target>/) against the reference kernels and
a numpy model, bit for bit.

Each target variant is built with the reference headers into the driver
``fixtures/kernel_harness_m4/kernel_driver.c`` together with the reference kernels (renamed
``*_ref``), and run on the same cases: x86 natively, AArch64 under ``qemu-aarch64`` (SDOT build
on ``-cpu max``, baseline build on ``-cpu cortex-a53`` which has no SDOT), Cortex-M4 bare metal
on ``qemu-system-arm -M mps2-an386`` (the harness' startup and linker script), and every file
built once more for the host without any feature flag (its portable fallback). Outputs must
equal the reference kernel's and the numpy model's (``fixedpoint.requantize`` of exact int64
sums; the float epilogues in float32, within 1 for exp/tanh whose libm may differ in the last
ulp). On Linux the driver places each operand right before an unmapped page, so a kernel that
reads past an operand crashes.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from qcompiler.codegen.c import fixedpoint as fp

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "codegen" / "c" / "kernels"
HARNESS = Path(__file__).resolve().parent / "fixtures" / "kernel_harness_m4"
TARGETS = ("x86-avx2", "x86-avx512vnni", "arm-neon", "cortex-m")
OPS = ("qc_gemm_s8", "qc_dwconv_s8")
ACT_NONE, ACT_LEAKY, ACT_HSIG, ACT_HSWISH, ACT_SIGMOID, ACT_TANH, ACT_SILU = range(7)
INEXACT_ACTS = (ACT_SIGMOID, ACT_TANH, ACT_SILU)  # libm expf/tanhf vs numpy: last ulp


# ---- cases ---------------------------------------------------------------------------------

@dataclass
class Rq:
    per_channel: int
    act: int
    out_zp: int
    qmin: int
    qmax: int
    mult: np.ndarray
    shift: np.ndarray
    fscale: np.ndarray
    alpha: float = 0.0
    beta: float = 0.0
    out_scale: float = 1.0

    def head(self) -> list[int]:
        f = [struct.unpack("<i", struct.pack("<f", v))[0] for v in (self.alpha, self.beta, self.out_scale)]
        return [self.per_channel, self.act, self.out_zp, self.qmin, self.qmax, *f]


@dataclass
class Case:
    kind: int  # 0 gemm, 1 dwconv
    dims: list[int]
    operands: list[np.ndarray]
    bias: np.ndarray
    has_bias: bool
    rq: Rq
    want: np.ndarray = field(default=None)  # type: ignore[assignment]


def _rand_rq(rng, nch: int, k: int, act: int = ACT_NONE, per_channel: bool = True,
             special: str = "") -> Rq:
    nc = nch if per_channel else 1
    spread = 3.0 * math.sqrt(max(k, 1)) * 74.0 * 74.0
    real = 127.0 / spread * 2.0 ** rng.uniform(-2, 2, nc)
    if special == "tiny":
        real = 2.0 ** rng.uniform(-70, -40, nc)  # shift 62, small multipliers
    elif special == "mid":
        real = 2.0 ** rng.uniform(-2, 0, nc)  # shifts 31 and 32 (the high-word shortcut's edge)
    elif special == "huge":
        real = 2.0 ** rng.uniform(0, 4, nc)  # saturates (the product stays in int32: see model)
    mult, shift = zip(*(fp.quantize_multiplier(float(r)) for r in real))
    zp = int(rng.integers(-128, 128)) if special != "zp0" else 0
    qmin, qmax = -128, 127
    if rng.random() < 0.3:  # fused ReLU / Clip
        qmin = max(-128, zp)
        qmax = int(rng.integers(qmin, 128))
    out_scale = 6.0 / 127.0
    return Rq(int(per_channel), act, zp, qmin, qmax, np.array(mult, np.int32), np.array(shift, np.int32),
              (real * out_scale).astype(np.float32), alpha=float(rng.uniform(0.05, 0.3)),
              beta=float(rng.uniform(0.3, 0.6)), out_scale=out_scale)


def _gemm_case(rng, M: int, N: int, K: int, layout: str, rq: Rq, has_bias: bool = True,
               fill: str = "") -> Case:
    if fill == "min":
        a = np.full((M, K), -128, np.int8)
        w = np.full((N, K), -128, np.int8)
    elif fill == "mix":
        a = rng.choice(np.array([-128, 127], np.int8), (M, K))
        w = rng.choice(np.array([-128, 127], np.int8), (N, K))
    else:
        a = rng.integers(-128, 128, (M, K), dtype=np.int8)
        w = rng.integers(-128, 128, (N, K), dtype=np.int8)
    bias = rng.integers(-(1 << 20), 1 << 20, N).astype(np.int32)
    sm, sn = {"conv": (1, M), "fc": (N, 1), "gap": (1, M + 3), "fcgap": (N + 2, 1)}[layout]
    return Case(0, [M, N, K, sm, sn], [a, w], bias, has_bias, rq)


def _dw_case(rng, n, cin, mult, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, rq_kw=None) -> Case:
    cout = cin * mult
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    x_zp = int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, (n, cin, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, (cout, kh, kw), dtype=np.int8)
    bias = rng.integers(-(1 << 16), 1 << 16, cout).astype(np.int32)
    rq = _rand_rq(rng, cout, kh * kw * 2, **(rq_kw or {}))
    dims = [n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, cin, x_zp]
    return Case(1, dims, [x, wt], bias, bool(rng.random() < 0.85), rq)


def make_cases(seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    layouts = ("conv", "fc", "gap", "fcgap")
    small = (1, 2, 3, 7, 16, 17)
    i = 0
    for M in small:
        for N in small:
            for K in (1, 2, 3, 7, 9, 16, 17, 27, 33, 64, 100):
                rq = _rand_rq(rng, N, K, per_channel=bool(i % 3))
                cases.append(_gemm_case(rng, M, N, K, layouts[i % 4], rq, has_bias=i % 5 != 0))
                i += 1
    for M, N, K in ((64, 33, 100), (100, 64, 288), (49, 128, 576), (64, 16, 1152), (1, 100, 1152),
                    (2, 10, 784), (33, 17, 63), (5, 7, 130), (64, 24, 27), (64, 96, 9),
                    # cortex-m's pre-extended weights: K 5/6 (overlapping groups), K up to 256
                    (4, 3, 5), (5, 2, 6), (6, 5, 255), (9, 4, 256), (4, 2, 257)):
        for layout in ("conv", "fc"):
            cases.append(_gemm_case(rng, M, N, K, layout, _rand_rq(rng, N, K, per_channel=layout == "conv")))
    # extremes: every product -128*-128 (K=2000: 32.8M), products of both signs, saturation
    for M, N, K in ((5, 3, 2000), (17, 9, 129), (4, 2, 16)):
        for fill in ("min", "mix"):
            cases.append(_gemm_case(rng, M, N, K, "conv", _rand_rq(rng, N, 1 << 20, special="huge"),
                                    fill=fill))
    cases.append(_gemm_case(rng, 7, 5, 40, "fc", _rand_rq(rng, 5, 40, special="tiny")))
    cases.append(_gemm_case(rng, 7, 5, 40, "conv", _rand_rq(rng, 5, 40, special="huge", per_channel=False)))
    # float epilogues, per channel and per tensor
    for act in range(1, 7):
        for pc in (True, False):
            cases.append(_gemm_case(rng, 19, 11, 37, "conv" if pc else "fc",
                                    _rand_rq(rng, 11, 37, act=act, per_channel=pc), has_bias=act % 2 == 0))
    # depthwise: 3x3 s1/s2 with and without pads, dilation, multiplier, odd sizes, 1x1, 5x5, 1-px
    dw = [
        (1, 4, 1, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        (1, 3, 1, 15, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        (1, 2, 1, 28, 28, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0),
        (2, 3, 2, 9, 11, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2),
        (1, 2, 3, 8, 8, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2),
        (1, 3, 1, 7, 20, 3, 3, 2, 1, 1, 1, 0, 1, 1, 0),
        (1, 2, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        (1, 5, 1, 6, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
        (1, 2, 1, 4, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        (1, 2, 1, 33, 34, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1),
        (1, 1, 2, 10, 37, 3, 3, 1, 1, 1, 3, 1, 3, 1, 3),
        (1, 2, 1, 12, 12, 2, 4, 3, 3, 1, 1, 1, 2, 0, 1),
        (1, 2, 1, 112, 112, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1),
        # 3-wide kernels of 1 and 2 rows, a row wider than cortex-m's padded-row buffer
        (1, 2, 1, 9, 10, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1),
        (1, 2, 2, 9, 11, 2, 3, 2, 2, 1, 1, 1, 1, 0, 1),
        (1, 1, 1, 3, 300, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        (1, 2, 1, 5, 257, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        # x86's flat plane path: stride 2 with dilation, 5x5 stride 2, strides (1, 2), input
        # columns past the last window (cropped), 2x2 planes
        (1, 3, 1, 11, 10, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2),
        (1, 2, 1, 9, 9, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2),
        (1, 2, 1, 9, 13, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1),
        (1, 2, 1, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0),
        (1, 5, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
    ]
    for j, d in enumerate(dw):
        cases.append(_dw_case(rng, *d, rq_kw={"per_channel": j % 3 != 1}))
    for special in ("mid", "huge"):
        cases.append(_dw_case(rng, 1, 3, 1, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, rq_kw={"special": special}))
        cases.append(_gemm_case(rng, 9, 6, 20, "conv", _rand_rq(rng, 6, 20, special=special)))
    for act in (ACT_LEAKY, ACT_HSWISH, ACT_SIGMOID):
        cases.append(_dw_case(rng, 1, 3, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, rq_kw={"act": act}))
    # QC_ACT_LINEAR (float epilogue, vectorized on x86) on small planes, strides 1 and 2
    for st in (1, 2):
        cases.append(_dw_case(rng, 1, 6, 1, 8, 8, 3, 3, st, st, 1, 1, 1, 1, 1, 1,
                              rq_kw={"act": 7, "per_channel": st == 1}))
    # cortex-m's 3-row depthwise path: whole padded planes (stride 2 with even and odd output
    # widths, 4x4 and 8x8 planes, shifts 31/32 at stride 2) and the ring of rows (larger planes,
    # even and odd widths, both strides)
    for j, d in enumerate([(1, 3, 1, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), (1, 2, 1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
                           (1, 2, 1, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), (1, 2, 1, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
                           (1, 2, 1, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), (1, 2, 1, 21, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
                           (1, 2, 1, 23, 22, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), (1, 2, 1, 31, 31, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1)]):
        cases.append(_dw_case(rng, *d, rq_kw={"per_channel": j % 3 != 1}))
    for special in ("mid", "huge"):
        cases.append(_dw_case(rng, 1, 4, 1, 10, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, rq_kw={"special": special}))
        cases.append(_dw_case(rng, 1, 4, 1, 24, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, rq_kw={"special": special}))
    # the float epilogue without an activation (7, QC_ACT_LINEAR), and with acc * fscale / out_scale
    # exact at acc / 128 and acc / 16 (halves round to even)
    for j, st in enumerate((1, 2, 1, 2)):
        c = _dw_case(rng, 1, 16 if j >= 2 else 4, 1, 16, 16, 3, 3, st, st, 1, 1, 1, 1, 1, 1,
                     rq_kw={"act": 7, "per_channel": j != 1})
        if j >= 2:
            c.rq.out_scale = 1.0
            c.rq.fscale = np.full_like(c.rq.fscale, 2.0 ** -7 if j == 2 else 2.0 ** -6)
            c.rq.qmin, c.rq.qmax, c.has_bias = -128, 127, False
        cases.append(c)
    for c in cases:
        c.want = model(c)
    return cases


# ---- numpy model -----------------------------------------------------------------------------

def _act(x: np.ndarray, act: int, alpha: float, beta: float) -> np.ndarray:
    f = np.float32
    with np.errstate(all="ignore"):
        if act == ACT_LEAKY:
            return np.where(x >= 0, x, x * f(alpha))
        if act == ACT_HSIG:
            return np.clip(f(alpha) * x + f(beta), f(0), f(1))
        if act == ACT_HSWISH:
            return x * np.clip(x / f(6) + f(0.5), f(0), f(1))
        if act == ACT_SIGMOID:
            return f(1) / (f(1) + np.exp(-x))
        if act == ACT_TANH:
            return np.tanh(x)
        if act == ACT_SILU:
            return x / (f(1) + np.exp(-x))
    return x


def requant_model(acc: np.ndarray, ch: np.ndarray, rq: Rq) -> np.ndarray:
    """qc_requant of int64 accumulators `acc`, channel index array `ch` (same shape)."""
    c = ch if rq.per_channel else np.zeros_like(ch)
    assert np.abs(acc).max(initial=0) < 2**31
    if rq.act == ACT_NONE:
        # qc_mulq returns int32: a product beyond it would wrap in C, not saturate
        assert np.abs(fp.mulq(acc, rq.mult[c].astype(np.int64), rq.shift[c].astype(np.int64))).max(initial=0) < 2**31
        return fp.requantize(acc, rq.mult[c].astype(np.int64), rq.shift[c].astype(np.int64), rq.out_zp,
                             rq.qmin, rq.qmax)
    real = acc.astype(np.float32) * rq.fscale[c]
    return fp.quantize_f32(_act(real, rq.act, rq.alpha, rq.beta), rq.out_scale, rq.out_zp, rq.qmin, rq.qmax)


def model(c: Case) -> np.ndarray:
    bias = c.bias.astype(np.int64) if c.has_bias else np.zeros(c.bias.shape, np.int64)
    if c.kind == 0:
        M, N, K, sm, sn = c.dims
        a, w = (o.astype(np.int64) for o in c.operands)
        acc = a @ w.T + bias[None, :]
        y = requant_model(acc, np.broadcast_to(np.arange(N), (M, N)), c.rq)
        out = np.full((M - 1) * sm + (N - 1) * sn + 1, 0x5A, np.int8)
        out[(np.arange(M)[:, None] * sm + np.arange(N)[None, :] * sn)] = y
        return out
    n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, _, x_zp = c.dims
    x = c.operands[0].astype(np.int64) - x_zp
    wt = c.operands[1].astype(np.int64)
    big = np.zeros((n, cin, h + pt + dh * kh + sh * oh, w + pl + dw * kw + sw * ow), np.int64)
    big[:, :, pt:pt + h, pl:pl + w] = x
    xc = big[:, np.arange(cout) // (cout // cin)]
    acc = np.zeros((n, cout, oh, ow), np.int64) + bias[None, :, None, None]
    for ky in range(kh):
        for kx in range(kw):
            patch = xc[:, :, ky * dh:ky * dh + sh * oh:sh, kx * dw:kx * dw + sw * ow:sw]
            acc += patch * wt[None, :, ky, kx, None, None]
    ch = np.broadcast_to(np.arange(cout)[None, :, None, None], acc.shape)
    return requant_model(acc, ch, c.rq).reshape(-1)


def _words(v) -> bytes:
    return np.asarray(v, dtype="<i4").tobytes()


def _bytes4(a: np.ndarray) -> bytes:
    b = np.ascontiguousarray(a, np.int8).tobytes()
    return b + b"\0" * (-len(b) % 4)


def serialize(cases: list[Case]) -> bytes:
    parts = [_words([len(cases)])]
    for c in cases:
        parts += [_words([c.kind, *c.dims, int(c.has_bias), *c.rq.head()])]
        parts += [_bytes4(o) for o in c.operands]
        parts += [_words(c.bias), _words(c.rq.mult), _words(c.rq.shift),
                  c.rq.fscale.astype("<f4").tobytes()]
    return b"".join(parts)


def check_outputs(cases: list[Case], blob: bytes, label: str) -> None:
    off = 0
    for i, c in enumerate(cases):
        n = c.want.size
        step = n + (-n % 4)
        got = np.frombuffer(blob, np.int8, n, off)
        ref = np.frombuffer(blob, np.int8, n, off + step)
        off += 2 * step
        what = f"{label} case {i} ({'gemm' if c.kind == 0 else 'dwconv'} dims={c.dims} act={c.rq.act} " \
               f"per_channel={c.rq.per_channel} bias={c.has_bias})"
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, f"{what}: differs from the reference kernel at {bad[:8]}: {got[bad[:8]]} vs {ref[bad[:8]]}"
        diff = np.abs(got.astype(np.int16) - c.want.astype(np.int16))
        tol = 1 if c.rq.act in INEXACT_ACTS else 0
        assert diff.max(initial=0) <= tol, f"{what}: differs from the numpy model at {np.flatnonzero(diff > tol)[:8]}"
    assert off == len(blob), f"{label}: {len(blob)} bytes of output, expected {off}"


# ---- builds ----------------------------------------------------------------------------------

CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-ffp-contract=off"]


@dataclass
class Variant:
    target: str
    name: str
    cc: str
    flags: list[str]
    run: list[str] | None  # None: compile only
    tools: tuple[str, ...]
    ldflags: list[str] = field(default_factory=list)
    extra_sources: list[Path] = field(default_factory=list)
    skip_run: str = ""


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
M4_LD = ["-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-T", str(HARNESS / "mps2.ld"),
         "-lm", "-lrdimon"]
M4_RUN = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-semihosting",
          "-kernel"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
AVX512 = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma"]


def variants() -> list[Variant]:
    has_vnni = "avx512_vnni" in _cpu_flags()
    out = []
    for t in TARGETS:
        out.append(Variant(t, "portable", "gcc", [], [], ("gcc",)))
    out += [
        Variant("x86-avx2", "avx2", "gcc", ["-mavx2", "-mfma"], [], ("gcc",)),
        Variant("x86-avx512vnni", "avx512vnni", "gcc", AVX512, [], ("gcc",),
                skip_run="" if has_vnni else "this CPU has no avx512_vnni (/proc/cpuinfo): compiled only"),
        Variant("x86-avx2", "avx2-sanitize", "gcc", ["-mavx2", "-mfma", *SANITIZE], [], ("gcc",)),
        Variant("x86-avx512vnni", "avx512vnni-sanitize", "gcc", [*AVX512, *SANITIZE], [], ("gcc",),
                skip_run="" if has_vnni else "this CPU has no avx512_vnni (/proc/cpuinfo): compiled only"),
        Variant("arm-neon", "dotprod", "aarch64-linux-gnu-gcc", ["-march=armv8.2-a+dotprod", "-static"],
                ["qemu-aarch64", "-cpu", "max"], ("aarch64-linux-gnu-gcc", "qemu-aarch64")),
        Variant("arm-neon", "a53", "aarch64-linux-gnu-gcc", ["-march=armv8-a", "-static"],
                ["qemu-aarch64", "-cpu", "cortex-a53"], ("aarch64-linux-gnu-gcc", "qemu-aarch64")),
        Variant("cortex-m", "m4-dsp", "arm-none-eabi-gcc", M4_FLAGS, M4_RUN,
                ("arm-none-eabi-gcc", "qemu-system-arm"), M4_LD, [HARNESS / "startup_m4.c"]),
        # the SMLAD inline assembly with r7 kept as frame pointer, and the C path it replaces
        Variant("cortex-m", "m4-dsp-Os-fp", "arm-none-eabi-gcc", [*M4_FLAGS, "-Os", "-fno-omit-frame-pointer"],
                M4_RUN, ("arm-none-eabi-gcc", "qemu-system-arm"), M4_LD, [HARNESS / "startup_m4.c"]),
        Variant("cortex-m", "m4-dsp-O0", "arm-none-eabi-gcc", [*M4_FLAGS, "-O0"], M4_RUN,
                ("arm-none-eabi-gcc", "qemu-system-arm"), M4_LD, [HARNESS / "startup_m4.c"]),
        Variant("cortex-m", "m3-nodsp", "arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb"],
                ["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none", "-semihosting",
                 "-kernel"], ("arm-none-eabi-gcc", "qemu-system-arm"), M4_LD, [HARNESS / "startup_m4.c"]),
    ]
    return out


def kernel_source(target: str, op: str) -> Path:
    p = KERNELS / target / f"{op}.c"
    return p if p.exists() else KERNELS / "reference" / f"{op}.c"


def build(v: Variant, out_dir: Path, defines: tuple[str, ...] = ()) -> Path:
    """Compile driver + target kernels + renamed reference kernels into one program."""
    exe = out_dir / f"{v.target}-{v.name}{'.elf' if v.cc.startswith('arm-none') else ''}"
    inc = ["-I", str(KERNELS / "include")]
    objs = []
    flags = CFLAGS + v.flags + list(defines)
    for op in OPS:
        for src, extra in ((kernel_source(v.target, op), ["-Werror"]),
                           (KERNELS / "reference" / f"{op}.c", [f"-D{op}={op}_ref"])):
            obj = out_dir / f"{v.target}-{v.name}-{op}{extra[0][2:].replace('=', '-')}.o"
            _cc([v.cc, *flags, *inc, *extra, "-c", str(src), "-o", str(obj)])
            objs.append(obj)
    srcs = [HARNESS / "kernel_driver.c", *v.extra_sources]
    _cc([v.cc, *flags, *inc, *map(str, srcs), *map(str, objs), "-o", str(exe), *v.ldflags, "-lm"])
    return exe


def _cc(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"


def run(v: Variant, exe: Path, work: Path, timeout: float = 120) -> bytes:
    r = subprocess.run([*(v.run or []), str(exe)], cwd=work, capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{v.target}/{v.name} exit {r.returncode}\n{r.stdout[-2000:]!r}\n{r.stderr[-2000:]!r}"
    return (work / "out.bin").read_bytes()


# ---- tests -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("target-kernels")
    cases = make_cases()
    (d / "cases.bin").write_bytes(serialize(cases))
    return d, cases


@pytest.mark.parametrize("v", variants(), ids=lambda v: f"{v.target}-{v.name}")
def test_target_kernel(v: Variant, cases_dir, tmp_path):
    missing = [t for t in v.tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    if not (KERNELS / v.target / "qc_gemm_s8.c").exists():
        pytest.skip(f"no {v.target}/qc_gemm_s8.c")
    d, cases = cases_dir
    exe = build(v, tmp_path)
    if v.skip_run:
        pytest.skip(v.skip_run)
    os.symlink(d / "cases.bin", tmp_path / "cases.bin")
    check_outputs(cases, run(v, exe, tmp_path), f"{v.target}/{v.name}")


def test_model_matches_python_ints():
    """The numpy model itself: a few accumulators requantized with Python integers."""
    rng = np.random.default_rng(1)
    rq = _rand_rq(rng, 4, 100)
    acc = rng.integers(-(2**31), 2**31, (50, 4))
    got = requant_model(acc, np.broadcast_to(np.arange(4), acc.shape), rq)
    for (m, c), v in np.ndenumerate(acc):
        mult, shift = int(rq.mult[c]), int(rq.shift[c])
        want = min(max(((int(v) * mult + (1 << (shift - 1))) >> shift) + rq.out_zp, rq.qmin), rq.qmax)
        assert got[m, c] == want


# ---- overrides of other kernels (qc_conv_s8, qc_add_s8, ...) -------------------------------------
#
# A second driver, written here, runs a target's file of a kernel and the reference file
# (built with -D<kernel>=<kernel>_ref, its own dependencies renamed likewise) on the same cases
# and writes both outputs; they must be equal byte for byte. Every buffer is malloc'ed at its
# exact size, so the sanitizer builds catch a read or write past an operand or past the scratch
# the reference's qc_conv_s8_scratch() allows. The ARM targets run it as the kernels above
# (qemu-aarch64; mps2-an386 with the harness' startup file, files through semihosting).

X86_OPS_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qc_kernels.h"

int32_t qc_conv_s8_scratch_ref(const qc_conv_params_t *p);
void qc_conv_s8_ref(const int8_t *x, const int8_t *wt, const int32_t *bias, const qc_conv_params_t *p,
                    const qc_requant_t *rq, int8_t *y, int8_t *col);
void qc_add_s8_ref(const int8_t *a, const int8_t *b, int8_t *y, const qc_add_params_t *p, int32_t ndim,
                   const int32_t *dims, const int32_t *as, const int32_t *bs);
void qc_mul_s8_ref(const int8_t *a, const int8_t *b, int8_t *y, const qc_mul_params_t *p, int32_t ndim,
                   const int32_t *dims, const int32_t *as, const int32_t *bs);
void qc_lut_s8_ref(const int8_t *x, int8_t *y, int32_t n, const int8_t *table);
void qc_mean_s8_ref(const int8_t *x, int8_t *y, int32_t outer, int32_t r, int32_t inner, int32_t zi,
                    int32_t zo, float ratio);
void qc_maxpool_s8_ref(const int8_t *x, int8_t *y, const qc_pool_params_t *p, int32_t zi, int32_t zo,
                       int32_t mult, int32_t shift);

static FILE *fin, *fout;
static int32_t rd32(void) {
    int32_t v = 0;
    if (fread(&v, 4, 1, fin) != 1) { printf("driver: short read\n"); exit(3); }
    return v;
}
static void *rdbuf(size_t n, size_t elem) { /* n elements, exact size, input padded to 4 */
    size_t bytes = n * elem;
    char *p = (char *)malloc(bytes ? bytes : 1);
    if (bytes && fread(p, 1, bytes, fin) != bytes) { printf("driver: short read\n"); exit(3); }
    if (bytes % 4) fseek(fin, (long)(4 - bytes % 4), SEEK_CUR);
    return p;
}
static void emit(const int8_t *y, size_t n) {
    static const char pad[4] = {0, 0, 0, 0};
    fwrite(y, 1, n, fout);
    if (n % 4) fwrite(pad, 1, 4 - n % 4, fout);
}
static float asf(int32_t v) { float f; memcpy(&f, &v, 4); return f; }

int main(void) {
    int32_t ncase, c;
    fin = fopen("cases.bin", "rb");
    fout = fopen("out.bin", "wb");
    if (!fin || !fout) return 2;
    ncase = rd32();
    for (c = 0; c < ncase; ++c) {
        int32_t kind = rd32();
        if (kind == 0) { /* conv */
            qc_conv_params_t p;
            qc_requant_t rq;
            int32_t f[17], i, has_bias, nc, ns, nx, nw, ny;
            int8_t *x, *w, *y, *yr, *col;
            int32_t *bias, *mult, *shift;
            float *fs;
            for (i = 0; i < 17; ++i) f[i] = rd32();
            p.n = f[0]; p.cin = f[1]; p.h = f[2]; p.w = f[3]; p.cout = f[4]; p.oh = f[5]; p.ow = f[6];
            p.kh = f[7]; p.kw = f[8]; p.sh = f[9]; p.sw = f[10]; p.dh = f[11]; p.dw = f[12];
            p.pt = f[13]; p.pl = f[14]; p.group = f[15]; p.x_zp = f[16];
            has_bias = rd32();
            rq.per_channel = rd32(); rq.act = rd32(); rq.out_zp = rd32(); rq.qmin = rd32();
            rq.qmax = rd32(); rq.alpha = asf(rd32()); rq.beta = asf(rd32()); rq.out_scale = asf(rd32());
            nc = rq.per_channel ? p.cout : 1;
            nx = p.n * p.cin * p.h * p.w;
            nw = p.cout * (p.cin / p.group) * p.kh * p.kw;
            ny = p.n * p.cout * p.oh * p.ow;
            x = (int8_t *)rdbuf((size_t)nx, 1);
            w = (int8_t *)rdbuf((size_t)nw, 1);
            bias = (int32_t *)rdbuf((size_t)p.cout, 4);
            mult = (int32_t *)rdbuf((size_t)nc, 4);
            shift = (int32_t *)rdbuf((size_t)nc, 4);
            fs = (float *)rdbuf((size_t)nc, 4);
            rq.mult = mult; rq.shift = shift; rq.fscale = fs;
            ns = qc_conv_s8_scratch_ref(&p);
            if (qc_conv_s8_scratch(&p) != ns) { printf("case %d: scratch differs\n", (int)c); return 5; }
            y = (int8_t *)malloc((size_t)ny); yr = (int8_t *)malloc((size_t)ny);
            memset(y, 0x5a, (size_t)ny); memset(yr, 0x5a, (size_t)ny);
            col = (int8_t *)malloc((size_t)ns);
            memset(col, 0x33, (size_t)ns);
            qc_conv_s8(x, w, has_bias ? bias : NULL, &p, &rq, y, col);
            qc_conv_s8_ref(x, w, has_bias ? bias : NULL, &p, &rq, yr, col);
            emit(y, (size_t)ny); emit(yr, (size_t)ny);
            free(x); free(w); free(bias); free(mult); free(shift); free(fs); free(y); free(yr); free(col);
        } else if (kind == 2) { /* maxpool */
            qc_pool_params_t p;
            int32_t f[17], zi, zo, mult, shift, nx, ny;
            int8_t *x, *y, *yr;
            int i;
            for (i = 0; i < 17; ++i) f[i] = rd32();
            p.n = f[0]; p.c = f[1]; p.h = f[2]; p.w = f[3]; p.oh = f[4]; p.ow = f[5]; p.kh = f[6];
            p.kw = f[7]; p.sh = f[8]; p.sw = f[9]; p.dh = f[10]; p.dw = f[11]; p.pt = f[12]; p.pl = f[13];
            p.count_include_pad = f[14]; p.pb = f[15]; p.pr = f[16];
            zi = rd32(); zo = rd32(); mult = rd32(); shift = rd32();
            nx = p.n * p.c * p.h * p.w;
            ny = p.n * p.c * p.oh * p.ow;
            x = (int8_t *)rdbuf((size_t)nx, 1);
            y = (int8_t *)malloc((size_t)ny); yr = (int8_t *)malloc((size_t)ny);
            memset(y, 0x5a, (size_t)ny); memset(yr, 0x5a, (size_t)ny);
            qc_maxpool_s8(x, y, &p, zi, zo, mult, shift);
            qc_maxpool_s8_ref(x, yr, &p, zi, zo, mult, shift);
            emit(y, (size_t)ny); emit(yr, (size_t)ny);
            free(x); free(y); free(yr);
        } else if (kind == 4) { /* lut, in place when asked */
            int32_t n = rd32(), inplace = rd32();
            int8_t *t = (int8_t *)rdbuf(256, 1), *x = (int8_t *)rdbuf((size_t)n, 1);
            int8_t *y = (int8_t *)malloc((size_t)n + 1), *yr = (int8_t *)malloc((size_t)n + 1);
            memset(y, 0x5a, (size_t)n + 1); memset(yr, 0x5a, (size_t)n + 1);
            qc_lut_s8_ref(x, yr, n, t);
            if (inplace) {
                memcpy(y, x, (size_t)n);
                qc_lut_s8(y, y, n, t);
            } else {
                qc_lut_s8(x, y, n, t);
            }
            emit(y, (size_t)n); emit(yr, (size_t)n);
            free(t); free(x); free(y); free(yr);
        } else if (kind == 5) { /* mean */
            int32_t outer = rd32(), r = rd32(), inner = rd32(), zi = rd32(), zo = rd32();
            float ratio = asf(rd32());
            size_t nx = (size_t)outer * (size_t)r * (size_t)inner, ny = (size_t)outer * (size_t)inner;
            int8_t *x = (int8_t *)rdbuf(nx, 1), *y = (int8_t *)malloc(ny + 1), *yr = (int8_t *)malloc(ny + 1);
            memset(y, 0x5a, ny + 1); memset(yr, 0x5a, ny + 1);
            qc_mean_s8(x, y, outer, r, inner, zi, zo, ratio);
            qc_mean_s8_ref(x, yr, outer, r, inner, zi, zo, ratio);
            emit(y, ny); emit(yr, ny);
            free(x); free(y); free(yr);
        } else { /* add (1), mul (3) */
            qc_add_params_t p;
            qc_mul_params_t mp;
            int32_t ndim, dims[6], as[6], bs[6], i, na, nb, ny;
            int8_t *a, *b, *y, *yr;
            if (kind == 1) {
                p.a_zp = rd32(); p.b_zp = rd32(); p.y_zp = rd32(); p.left_shift = rd32();
                p.a_mult = rd32(); p.a_shift = rd32(); p.b_mult = rd32(); p.b_shift = rd32();
                p.y_mult = rd32(); p.y_shift = rd32(); p.qmin = rd32(); p.qmax = rd32();
            } else {
                mp.a_zp = rd32(); mp.b_zp = rd32(); mp.y_zp = rd32(); mp.mult = rd32();
                mp.shift = rd32(); mp.qmin = rd32(); mp.qmax = rd32();
            }
            ndim = rd32();
            for (i = 0; i < 6; ++i) dims[i] = rd32();
            for (i = 0; i < 6; ++i) as[i] = rd32();
            for (i = 0; i < 6; ++i) bs[i] = rd32();
            na = rd32(); nb = rd32(); ny = rd32();
            a = (int8_t *)rdbuf((size_t)na, 1);
            b = (int8_t *)rdbuf((size_t)nb, 1);
            y = (int8_t *)malloc((size_t)ny); yr = (int8_t *)malloc((size_t)ny);
            memset(y, 0x5a, (size_t)ny); memset(yr, 0x5a, (size_t)ny);
            if (kind == 1) {
                qc_add_s8(a, b, y, &p, ndim, dims, as, bs);
                qc_add_s8_ref(a, b, yr, &p, ndim, dims, as, bs);
            } else {
                qc_mul_s8(a, b, y, &mp, ndim, dims, as, bs);
                qc_mul_s8_ref(a, b, yr, &mp, ndim, dims, as, bs);
            }
            emit(y, (size_t)ny); emit(yr, (size_t)ny);
            free(a); free(b); free(y); free(yr);
        }
    }
    fclose(fout);
    return 0;
}
"""

X86_OPS = ("qc_conv_s8", "qc_add_s8", "qc_mul_s8", "qc_maxpool_s8", "qc_lut_s8", "qc_mean_s8")
X86_OP_DEPS = {"qc_conv_s8": ("qc_gemm_s8",), "qc_add_s8": (), "qc_mul_s8": (), "qc_maxpool_s8": (),
               "qc_lut_s8": (), "qc_mean_s8": ()}


def _target_file(target: str, op: str) -> Path:
    """The file emit.py would take: x86-avx512vnni falls back to x86-avx2, then reference."""
    folders = (target, "x86-avx2") if target == "x86-avx512vnni" else (target,)
    for f in folders:
        if (KERNELS / f / f"{op}.c").exists():
            return KERNELS / f / f"{op}.c"
    return KERNELS / "reference" / f"{op}.c"


def _conv_case(rng, n, cin, cout, h, w, kh, kw, sh=1, sw=1, dh=1, dw=1, pt=0, pl=0, pb=0, pr=0,
               group=1, rq_kw=None, x_zp=None, fill="", wmax=128) -> list[bytes]:
    """A qc_conv_s8 case; weights in [-wmax, wmax] (128: any int8), fill "min" (every value
    -128) or "edge64" (inputs 127, weights +-64 per channel: the largest vpmaddubsw pair sums
    that cannot saturate)."""
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    assert oh > 0 and ow > 0
    K = cin // group * kh * kw
    x_zp = int(rng.integers(-128, 128)) if x_zp is None else x_zp
    if fill == "min":
        x = np.full((n, cin, h, w), -128, np.int8)
        wt = np.full((cout, K), -128, np.int8)
    elif fill == "edge64":
        x = np.full((n, cin, h, w), 127, np.int8)
        wt = (np.where(rng.random((cout, 1)) < 0.5, -64, 64) * np.ones((1, K))).astype(np.int8)
    else:
        x = rng.integers(-128, 128, (n, cin, h, w), dtype=np.int8)
        wt = rng.integers(-min(wmax, 128), min(wmax, 127) + 1, (cout, K), dtype=np.int8)
    bias = rng.integers(-(1 << 20), 1 << 20, cout).astype(np.int32)
    rq = _rand_rq(rng, cout, K, **(rq_kw or {}))
    dims = [n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, group, x_zp]
    has_bias = bool(rng.random() < 0.85)
    return [_words([0, *dims, int(has_bias), *rq.head()]), _bytes4(x), _bytes4(wt), _words(bias),
            _words(rq.mult), _words(rq.shift), rq.fscale.astype("<f4").tobytes()], n * cout * oh * ow


def make_x86_cases(seed: int = 3) -> tuple[bytes, list[tuple[str, int]]]:
    """Serialized cases and (label, output bytes) per case."""
    rng = np.random.default_rng(seed)
    out: list[tuple[list[bytes], int, str]] = []

    def conv(*a, **k):
        parts, ny = _conv_case(rng, *a, **k)
        out.append((parts, ny, f"conv {a} {k}"))

    # the benchmark models' layers
    for cin, cout, h, k, s, pad in ((3, 16, 32, 3, 1, 1), (16, 16, 32, 3, 1, 1), (16, 32, 32, 3, 2, 1),
                                    (32, 32, 16, 3, 1, 1), (16, 32, 32, 1, 2, 0), (16, 64, 16, 1, 1, 0),
                                    (64, 24, 8, 1, 1, 0), (24, 96, 8, 1, 1, 0), (1, 16, 16, 3, 1, 1),
                                    (3, 16, 32, 3, 2, 1), (32, 32, 8, 3, 1, 1)):
        conv(1, cin, cout, h, h, k, k, s, s, pt=pad, pl=pad, pb=pad, pr=pad,
             rq_kw={"per_channel": bool(rng.random() < 0.7)})
    # shapes: odd sizes, rows shorter and longer than a chunk, asymmetric pads, dilation, strides 1-3
    shapes = [
        (1, 1, 1, 1, 1, 1, 1), (1, 2, 3, 4, 4, 3, 3), (1, 5, 7, 17, 9, 3, 3), (1, 4, 9, 70, 3, 3, 3),
        (2, 3, 5, 9, 33, 2, 4), (1, 8, 17, 20, 20, 5, 5), (1, 6, 4, 1, 100, 1, 3), (1, 7, 6, 13, 11, 1, 1),
        (1, 16, 8, 12, 12, 3, 3), (1, 9, 3, 8, 8, 3, 1), (2, 4, 4, 16, 16, 1, 1), (1, 3, 2, 6, 66, 3, 3),
    ]
    for i, (n, cin, cout, h, w, kh, kw) in enumerate(shapes):
        for s, d, pads in ((1, 1, (0, 0, 0, 0)), (1, 1, (1, 2, 0, 1)), (2, 1, (1, 1, 1, 1)),
                           (3, 1, (0, 2, 2, 0)), (1, 2, (2, 2, 2, 2)), (2, 2, (0, 1, 1, 0))):
            pt, pl, pb, pr = pads
            if (h + pt + pb - d * (kh - 1) - 1) < 0 or (w + pl + pr - d * (kw - 1) - 1) < 0:
                continue
            conv(n, cin, cout, h, w, kh, kw, s, s if i % 2 else 1, d, d, pt, pl, pb, pr,
                 rq_kw={"per_channel": bool((i + s) % 3)})
    # groups, channel counts around the 4-channel tiles, more than 256 channels, K > 2048
    conv(1, 8, 12, 10, 10, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, group=2)
    conv(2, 6, 9, 9, 8, 1, 1, group=3, rq_kw={"per_channel": True})
    for cout in (1, 2, 3, 5, 6, 7, 13):
        conv(1, 4, cout, 9, 9, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1)
    conv(1, 3, 300, 8, 8, 1, 1)
    # pointwise (the ARM transposing im2col): channel counts around 4, planes with pixel tails, more
    # than one 64-pixel chunk, a run ending inside a row; 1x1 with padding or a cropped output
    for cin, cout, h, w in ((5, 7, 9, 7), (4, 3, 1, 1), (13, 6, 11, 13), (16, 16, 8, 9), (3, 5, 2, 3),
                            (35, 9, 5, 5), (8, 17, 17, 5)):
        conv(1, cin, cout, h, w, 1, 1, rq_kw={"per_channel": bool(cin % 2)})
    conv(2, 12, 8, 7, 10, 1, 1, group=2)
    conv(1, 6, 5, 9, 9, 1, 1, 1, 1, pt=1, pl=1, pb=1, pr=1)
    conv(1, 6, 5, 9, 9, 1, 1, 1, 1, pb=1, pr=0)
    conv(1, 6, 5, 9, 9, 1, 1, 2, 2)
    conv(1, 6, 5, 10, 9, 1, 1, 3, 1)
    conv(1, 240, 3, 5, 5, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1)
    conv(1, 230, 5, 6, 7, 3, 3, 1, 1)
    # zero points and extremes: x_zp -128 / 127, every value -128, saturating multipliers
    conv(1, 4, 4, 10, 10, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, x_zp=-128)
    conv(1, 4, 4, 10, 10, 3, 3, 2, 2, pt=1, pl=1, pb=1, pr=1, x_zp=127)
    conv(1, 16, 5, 8, 8, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, fill="min", x_zp=127,
         rq_kw={"special": "huge"})
    for special in ("tiny", "mid", "zp0"):
        conv(1, 5, 6, 9, 10, 3, 3, 1, 1, pt=1, pl=1, pb=0, pr=1, rq_kw={"special": special})
    # float epilogues
    for act in range(1, 7):
        conv(1, 3, 5, 9, 11, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1,
             rq_kw={"act": act, "per_channel": bool(act % 2)})
    conv(1, 3, 5, 9, 11, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, rq_kw={"act": 7})
    # weights in [-64, 64] (x86-avx2's vpmaddubsw path): the benchmark layers, K % 4 of 1-3,
    # pixel tails, 16-pixel planes, pointwise, K past QC_KMAX, the largest pair sums, and one
    # weight of 65 (the exact path)
    for cin, cout, h, k, s, pad in ((16, 16, 32, 3, 1, 1), (16, 32, 32, 3, 2, 1), (3, 16, 32, 3, 1, 1),
                                    (24, 96, 8, 1, 1, 0), (96, 24, 4, 1, 1, 0), (32, 128, 4, 1, 1, 0)):
        conv(1, cin, cout, h, h, k, k, s, s, pt=pad, pl=pad, pb=pad, pr=pad, wmax=64)
    for cin, cout, h, w, k in ((5, 7, 9, 7, 1), (1, 6, 7, 5, 3), (2, 5, 9, 9, 1), (3, 9, 5, 7, 1),
                               (7, 3, 6, 5, 3), (13, 6, 11, 13, 1), (6, 5, 4, 4, 3), (240, 5, 6, 6, 3)):
        conv(1, cin, cout, h, w, k, k, pt=k // 2, pl=k // 2, pb=k // 2, pr=k // 2, wmax=64,
             rq_kw={"per_channel": bool(cout % 2)})
    conv(2, 8, 12, 10, 10, 3, 3, 2, 2, pt=1, pl=1, pb=1, pr=1, group=2, wmax=64)
    for x_zp in (-128, 127):
        conv(1, 16, 6, 8, 8, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, fill="edge64", x_zp=x_zp,
             rq_kw={"special": "huge"})
    conv(1, 16, 6, 8, 8, 1, 1, fill="edge64", rq_kw={"special": "tiny"})
    conv(1, 16, 8, 8, 8, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, wmax=65)
    # x86's direct convolution (kh * kw > 1, output rows of at least one vector: 8 pixels, 16 with
    # VNNI): rows of 16-100 pixels, strides 1-3 (unequal too), dilations, channel counts around the
    # pairs / quads of channels, several bands, groups, K near the offset table's limit (900 taps
    # of pairs; 1080 falls back), bands larger than the scratch (3x1 on wide rows, a wide 1x3: the
    # im2col path), the [-64, 64] path, the extreme values and groups too large for the weights
    # prepared once per call
    for (n, cin, cout, h, w, kh, kw, sh, sw, dh, dw, pads, wmax) in (
            (1, 3, 5, 12, 17, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (1, 5, 6, 9, 33, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 128),
            (1, 7, 4, 10, 40, 3, 3, 3, 3, 1, 1, (0, 2, 2, 0), 128),
            (1, 6, 9, 11, 36, 3, 3, 1, 1, 2, 2, (2, 2, 2, 2), 128),
            (1, 9, 3, 13, 50, 5, 5, 2, 2, 2, 2, (0, 1, 1, 0), 128),
            (1, 4, 7, 14, 35, 3, 3, 2, 1, 1, 2, (1, 0, 2, 1), 128),
            (1, 2, 6, 9, 70, 2, 4, 1, 2, 2, 1, (0, 3, 1, 0), 128),
            (1, 1, 3, 20, 24, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (2, 16, 16, 40, 40, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (1, 32, 8, 20, 20, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (1, 6, 5, 12, 80, 3, 1, 1, 1, 1, 1, (1, 0, 1, 0), 128),
            (1, 4, 3, 2, 300, 1, 3, 1, 1, 1, 1, (0, 1, 0, 1), 128),
            (1, 200, 7, 5, 17, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (1, 240, 3, 4, 20, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (1, 5, 7, 16, 19, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 64),
            (1, 16, 16, 18, 34, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 64),
            (1, 7, 9, 17, 17, 3, 3, 1, 1, 2, 2, (2, 2, 2, 2), 64),
            # weights prepared per band instead of once per call: more than 256 channels, or
            # more than 16384 prepared words (120 channels x 144 quads)
            (1, 64, 260, 5, 16, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 128),
            (1, 64, 120, 5, 16, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 64)):
        pt, pl, pb, pr = pads
        conv(n, cin, cout, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, wmax=wmax,
             rq_kw={"per_channel": bool(cout % 2)})
    conv(1, 8, 12, 20, 20, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, group=2)
    conv(1, 8, 12, 20, 20, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, group=2, wmax=64)
    for x_zp in (-128, 127):
        conv(1, 16, 5, 16, 16, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, fill="min", x_zp=x_zp,
             rq_kw={"special": "huge"})
        conv(1, 16, 6, 16, 16, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, fill="edge64", x_zp=x_zp,
             rq_kw={"special": "huge"})
    for special in ("tiny", "mid", "zp0"):
        conv(1, 5, 6, 9, 20, 3, 3, 1, 1, pt=1, pl=1, pb=0, pr=1, rq_kw={"special": special})
    for act in (1, 4, 7):
        conv(1, 3, 5, 9, 20, 3, 3, 1, 1, pt=1, pl=1, pb=1, pr=1, rq_kw={"act": act})
    out += _add_cases(rng)
    out += _maxpool_cases(rng)
    out += _lut_mean_cases(rng)
    blob = _words([len(out)]) + b"".join(b"".join(p) for p, _, _ in out)
    return blob, [(label, ny) for _, ny, label in out]


def _add_cases(rng) -> list[tuple[list[bytes], int, str]]:
    cases = []

    def params(kind: str) -> list[int]:
        # as the lowering derives them (TFLite): left_shift 20, a/b rescaled to twice the larger scale
        sa, sb, sy = (float(v) for v in 2.0 ** rng.uniform(-6, -2, 3))
        if kind == "wide":
            sy = sy / 64
        big = 2 * max(sa, sb)
        ma, sha = fp.quantize_multiplier(sa / big)
        mb, shb = fp.quantize_multiplier(sb / big)
        my, shy = fp.quantize_multiplier(big / ((1 << 20) * sy))
        sha += 0
        if kind == "sub":
            mb = -mb
        qmin, qmax = (-128, 127)
        zps = [int(v) for v in rng.integers(-128, 128, 3)]
        if kind == "relu":
            qmin = zps[2]
        if kind == "zp":
            zps = [-128, 127, 0]
        return [*zps, 20, ma, sha, mb, shb, my, shy, qmin, qmax]

    def mul_params(kind: str) -> list[int]:
        sa, sb, sy = (float(v) for v in 2.0 ** rng.uniform(-6, -2, 3))
        if kind == "wide":
            sy = sy / 64
        mult, shift = fp.quantize_multiplier(sa * sb / sy)
        zps = [int(v) for v in rng.integers(-128, 128, 3)]
        if kind == "zp":
            zps = [-128, 127, 0]
        return [*zps, mult, shift, zps[2] if kind == "relu" else -128, 127]

    def add(shape_y, sa, sb, na, nb, kind="", op=1):
        ndim = len(shape_y)
        pad = lambda v: list(v) + [0] * (6 - len(v))  # noqa: E731
        a = rng.integers(-128, 128, na, dtype=np.int8)
        b = rng.integers(-128, 128, nb, dtype=np.int8)
        if kind == "ext":
            a = rng.choice(np.array([-128, 127], np.int8), na)
            b = rng.choice(np.array([-128, 127], np.int8), nb)
        ny = int(np.prod(shape_y)) if ndim else 1
        head = params(kind) if op == 1 else mul_params(kind)
        parts = [_words([op, *head, ndim, *pad(shape_y), *pad(sa), *pad(sb), na, nb, ny]),
                 _bytes4(a), _bytes4(b)]
        cases.append((parts, ny, f"{'add' if op == 1 else 'mul'} y{shape_y} as{sa} bs{sb} {kind}"))

    for n in (1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1000, 4099):
        for kind in ("", "sub", "relu", "wide", "zp", "ext"):
            add([n], [1], [1], n, n, kind)
        for kind in ("", "relu", "wide", "zp", "ext"):
            add([n], [1], [1], n, n, kind, op=3)
    # Mul: the squeeze-excitation broadcast ([1,C,H,W] by [1,C,1,1]), scalar and row broadcasts
    add([1, 48, 24, 24], [0, 576, 24, 1], [0, 1, 0, 0], 27648, 48, op=3)
    add([1, 5, 7, 3], [0, 21, 3, 1], [0, 1, 0, 0], 105, 5, "ext", op=3)
    add([1, 16, 8, 8], [0, 0, 0, 0], [1024, 64, 8, 1], 1, 1024, "wide", op=3)
    add([3, 37], [37, 1], [0, 1], 111, 37, "relu", op=3)
    add([5, 40], [1, 5], [40, 1], 200, 200, op=3)
    add([2, 3, 0], [0, 0, 1], [0, 0, 1], 1, 1, op=3)
    add([], [], [], 1, 1, op=3)
    add([], [], [], 1, 1)
    add([2, 16, 8, 8], [1024, 64, 8, 1], [1024, 64, 8, 1], 2048, 2048)
    add([1, 16, 8, 8], [1024, 64, 8, 1], [0, 1, 0, 0], 1024, 16)  # per-channel bias-like broadcast
    add([1, 16, 8, 8], [0, 0, 0, 0], [1024, 64, 8, 1], 1, 1024, "sub")  # scalar a
    add([3, 37], [37, 1], [0, 1], 111, 37, "relu")  # row broadcast
    add([5, 40], [1, 5], [40, 1], 200, 200)  # transposed a
    add([4, 33], [33, 1], [1, 0], 132, 4)  # column broadcast
    add([2, 3, 0], [0, 0, 1], [0, 0, 1], 1, 1)  # empty
    return cases


def _maxpool_cases(rng) -> list[tuple[list[bytes], int, str]]:
    cases = []

    def pool(n, c, h, w, k, s, d=(1, 1), pads=(0, 0, 0, 0), ceil=False, requant=False, fill=""):
        (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = k, s, d, pads
        rnd = (lambda v, q: -(-v // q)) if ceil else (lambda v, q: v // q)
        oh = rnd(h + pt + pb - dh * (kh - 1) - 1, sh) + 1
        ow = rnd(w + pl + pr - dw * (kw - 1) - 1, sw) + 1
        x = np.full((n, c, h, w), -128, np.int8) if fill == "min" else rng.integers(-128, 128, (n, c, h, w), dtype=np.int8)
        mult, shift = fp.quantize_multiplier(float(rng.uniform(0.3, 3.0))) if requant else (0, 1)
        zi, zo = (int(v) for v in rng.integers(-128, 128, 2))
        dims = [n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, 0, pb, pr]
        cases.append(([_words([2, *dims, zi, zo, mult, shift]), _bytes4(x)], n * c * oh * ow,
                      f"maxpool {dims} ceil={ceil} requant={requant} {fill}"))

    pool(1, 32, 47, 47, (3, 3), (2, 2))  # the squeezenet layers
    pool(1, 16, 32, 32, (3, 3), (2, 2), ceil=True)
    pool(1, 5, 9, 9, (3, 3), (1, 1), pads=(1, 1, 1, 1))
    pool(2, 3, 70, 67, (2, 2), (2, 2))
    pool(1, 4, 33, 65, (3, 3), (2, 2), pads=(1, 1, 1, 1), ceil=True, requant=True)
    pool(1, 3, 10, 100, (3, 5), (1, 1), d=(2, 3), pads=(2, 0, 1, 3))
    pool(1, 2, 11, 71, (2, 3), (3, 3), pads=(1, 2, 1, 2), ceil=True)
    pool(1, 2, 7, 40, (3, 3), (1, 2), d=(1, 2), requant=True)
    pool(1, 2, 6, 6, (2, 2), (2, 2), pads=(1, 1, 1, 1), fill="min")
    pool(1, 1, 5, 9, (3, 3), (1, 1), pads=(2, 2, 2, 2))  # windows in the padding only
    pool(1, 1, 1, 1, (1, 1), (1, 1))
    pool(1, 2, 3, 2500, (2, 3), (1, 1), pads=(0, 1, 0, 1))  # rows of several strips
    pool(1, 2, 3, 2500, (3, 3), (2, 2), ceil=True)
    pool(1, 1, 2, 1500, (2, 1100), (1, 7))  # windows wider than a strip
    pool(1, 1, 3, 1500, (1, 600), (2, 5), d=(1, 2), pads=(0, 3, 0, 3), requant=True)
    return cases


def _lut_mean_cases(rng) -> list[tuple[list[bytes], int, str]]:
    cases = []
    for n in (1, 5, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 36864):
        for inplace in (0, 1):
            t = rng.integers(-128, 128, 256, dtype=np.int8)
            x = np.arange(-128, 128, dtype=np.int8) if n == 1000 else rng.integers(-128, 128, n, dtype=np.int8)
            x = np.resize(x, n)
            cases.append(([_words([4, n, inplace]), _bytes4(t), _bytes4(x)], n, f"lut n={n} inplace={inplace}"))
    # mean: GlobalAveragePool planes of every length around 32/64, a strided (inner > 1) layout
    for outer, r, inner in ((48, 2304, 1), (24, 576, 1), (3, 1, 1), (5, 31, 1), (4, 32, 1), (4, 33, 1),
                            (2, 63, 1), (2, 64, 1), (2, 65, 1), (3, 97, 1), (2, 200, 1), (1, 16641, 1),
                            (2, 7, 3), (3, 40, 5), (2, 0, 1)):
        x = rng.integers(-128, 128, outer * r * inner, dtype=np.int8)
        if r == 16641:
            x[:] = 127
        zi, zo = (int(v) for v in rng.integers(-128, 128, 2))
        ratio = struct.unpack("<i", struct.pack("<f", float(rng.uniform(0.2, 3.0))))[0]
        cases.append(([_words([5, outer, r, inner, zi, zo, ratio]), _bytes4(x)], outer * inner,
                      f"mean outer={outer} r={r} inner={inner}"))
    return cases


def _ops_variants() -> list[Variant]:
    return [v for v in variants() if v.target.startswith("x86") or v.target in ("arm-neon", "cortex-m")]


def build_x86(v: Variant, out_dir: Path) -> Path:
    exe = out_dir / f"ops-{v.target}-{v.name}{'.elf' if v.cc.startswith('arm-none') else ''}"
    inc = ["-I", str(KERNELS / "include")]
    flags = CFLAGS + v.flags
    (out_dir / "driver.c").write_text(X86_OPS_DRIVER)
    objs = []
    for op in X86_OPS:
        # the file under test with the target's dependencies, then the reference with reference deps
        for src in [_target_file(v.target, op), *(_target_file(v.target, d) for d in X86_OP_DEPS[op])]:
            obj = out_dir / f"t-{op}-{src.parent.name}-{src.stem}.o"
            _cc([v.cc, *flags, *inc, "-Werror", "-c", str(src), "-o", str(obj)])
            objs.append(obj)
        renames = [f"-D{k}={k}_ref" for k in (op, *X86_OP_DEPS[op])]
        if op == "qc_conv_s8":
            renames.append("-Dqc_conv_s8_scratch=qc_conv_s8_scratch_ref")
        for name in (op, *X86_OP_DEPS[op]):
            obj = out_dir / f"r-{op}-{name}.o"
            _cc([v.cc, *flags, *inc, *renames, "-c", str(KERNELS / "reference" / f"{name}.c"), "-o", str(obj)])
            objs.append(obj)
    # a dependency shared by two ops would be linked twice: none today (qc_gemm_s8 only under conv)
    _cc([v.cc, *flags, *inc, str(out_dir / "driver.c"), *map(str, v.extra_sources), *map(str, objs), "-o",
         str(exe), *v.ldflags, "-lm"])
    return exe


@pytest.fixture(scope="module")
def x86_cases_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("x86-ops")
    blob, labels = make_x86_cases()
    (d / "cases.bin").write_bytes(blob)
    return d, labels


@pytest.mark.parametrize("v", _ops_variants(), ids=lambda v: f"{v.target}-{v.name}")
def test_target_ops(v: Variant, x86_cases_dir, tmp_path):
    """qc_conv_s8 / qc_add_s8 / qc_mul_s8 / qc_maxpool_s8 ... of each target (X86_OPS; and their
    portable fallbacks) give the reference kernel's bytes on every case; the sanitizer builds check that no buffer is overrun."""
    family = ("x86-avx2", "x86-avx512vnni") if v.target.startswith("x86") else (v.target,)
    if not any((KERNELS / t / f"{op}.c").exists() for t in family for op in X86_OPS):
        pytest.skip(f"no {v.target} override of qc_conv_s8 / qc_add_s8")
    missing = [t for t in v.tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    d, labels = x86_cases_dir
    exe = build_x86(v, tmp_path)
    if v.skip_run:
        pytest.skip(v.skip_run)
    os.symlink(d / "cases.bin", tmp_path / "cases.bin")
    blob = run(v, exe, tmp_path, timeout=600)
    off = 0
    for i, (label, n) in enumerate(labels):
        step = n + (-n % 4)
        got = np.frombuffer(blob, np.int8, n, off)
        ref = np.frombuffer(blob, np.int8, n, off + step)
        off += 2 * step
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, f"{v.target}/{v.name} case {i} ({label}): differs from the reference at " \
                              f"{bad[:8]}: {got[bad[:8]]} vs {ref[bad[:8]]}"
    assert off == len(blob)
