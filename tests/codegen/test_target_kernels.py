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
                    (2, 10, 784), (33, 17, 63), (5, 7, 130), (64, 24, 27), (64, 96, 9)):
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
    ]
    for j, d in enumerate(dw):
        cases.append(_dw_case(rng, *d, rq_kw={"per_channel": j % 3 != 1}))
    for special in ("mid", "huge"):
        cases.append(_dw_case(rng, 1, 3, 1, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, rq_kw={"special": special}))
        cases.append(_gemm_case(rng, 9, 6, 20, "conv", _rand_rq(rng, 6, 20, special=special)))
    for act in (ACT_LEAKY, ACT_HSWISH, ACT_SIGMOID):
        cases.append(_dw_case(rng, 1, 3, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, rq_kw={"act": act}))
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
