"""qc_gemm_s8: the reference kernel against the target-optimized ones.

    python bench/kernel_gemm.py [--no-host] [--no-qemu] [--shapes 784x16x9,49x128x1152]
                                [--dw-shapes 32x56x3x1x1,64x16x3x2x1] [--targets cortex-m]

prints, for conv-like shapes (M output pixels, N output channels, K = cin*kh*kw; the conv
kernel's layout sm = 1, sn = M), the median time per MAC on this machine of the reference and
the x86 variants (x86-avx2; x86-avx512vnni when the CPU has avx512_vnni), called through ctypes,
and the instructions per MAC of one qc_gemm_s8 call (epilogue included) counted by the qemu
TCG plugin (bench/qemu_count.py) over all the code of the kernel's file (its helpers too;
calls into libc/libm, which the fixed-point path does not make, are not counted): AArch64 reference vs arm-neon with SDOT (-cpu max) and
without (-cpu cortex-a53), Cortex-M4 (mps2-an386) reference vs cortex-m (SXTB16/SMLAD); then
the same count for qc_dwconv_s8 on a few depthwise layers (C channels, HxW input, k x k kernel,
stride, pad).
The requantization is per channel without a fused ReLU/Clip range (qmin -128, qmax 127), as in
the convolutions of bench/c_runtime.py's models.
Every build is -O2; the counted kernels are built with QC_NOIPA=__attribute__((noipa)). The
programs are tests/codegen's kernel driver; the cases are written by its test module.
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "codegen"))
sys.path.insert(0, str(ROOT / "bench"))

import test_target_kernels as tk  # noqa: E402  (cases, builds, harness paths)
from qemu_count import count_instructions  # noqa: E402

DW_SHAPES = [(32, 56, 3, 1, 1), (64, 28, 3, 2, 1), (128, 14, 3, 1, 1), (16, 28, 5, 1, 2)]
SHAPES = [(784, 16, 9), (784, 16, 27), (784, 32, 144), (196, 64, 288), (196, 128, 576),
          (49, 128, 1152), (1, 256, 1024)]
NOIPA = "-DQC_NOIPA=__attribute__((noipa))"


class _Rq(ctypes.Structure):
    _fields_ = [("mult", ctypes.c_void_p), ("shift", ctypes.c_void_p), ("per_channel", ctypes.c_int32),
                ("out_zp", ctypes.c_int32), ("qmin", ctypes.c_int32), ("qmax", ctypes.c_int32),
                ("act", ctypes.c_int32), ("fscale", ctypes.c_void_p), ("alpha", ctypes.c_float),
                ("beta", ctypes.c_float), ("out_scale", ctypes.c_float)]


def _case(M: int, N: int, K: int, seed: int = 0) -> tk.Case:
    rng = np.random.default_rng(seed)
    layout = "fc" if M == 1 else "conv"
    rq = tk._rand_rq(rng, N, K, per_channel=True)
    rq.qmin, rq.qmax = -128, 127  # no fused clamp, as in the benchmark models' convolutions
    return tk._gemm_case(rng, M, N, K, layout, rq)


def _shared(src: Path, flags: list[str], out: Path) -> ctypes.CDLL:
    tk._cc(["gcc", "-O2", "-shared", "-fPIC", *flags, "-I", str(tk.KERNELS / "include"), str(src),
            "-o", str(out)])
    return ctypes.CDLL(str(out))


def host_times(shapes, work: Path) -> list[str]:
    """Median ns/MAC of each host variant, one row per shape."""
    libs = {"reference": _shared(tk.KERNELS / "reference" / "qc_gemm_s8.c", [], work / "ref.so"),
            "avx2": _shared(tk.KERNELS / "x86-avx2" / "qc_gemm_s8.c", ["-mavx2", "-mfma"], work / "avx2.so")}
    if "avx512_vnni" in tk._cpu_flags():
        libs["vnni"] = _shared(tk.KERNELS / "x86-avx512vnni" / "qc_gemm_s8.c", tk.AVX512, work / "vnni.so")
    rows = ["host (ns/MAC, median of 7; speedup against the reference)",
            f"{'M x N x K':>16} " + " ".join(f"{n:>18}" for n in libs)]
    for M, N, K in shapes:
        c = _case(M, N, K)
        a, w = c.operands
        rq = c.rq
        crq = _Rq(rq.mult.ctypes.data, rq.shift.ctypes.data, rq.per_channel, rq.out_zp, rq.qmin, rq.qmax,
                  rq.act, rq.fscale.ctypes.data, rq.alpha, rq.beta, rq.out_scale)
        out = np.zeros(M * N, np.int8)
        sm, sn = c.dims[3], c.dims[4]
        times = {}
        outs = {}
        for name, lib in libs.items():
            f = lib.qc_gemm_s8
            f.restype = None
            args = (a.ctypes.data, w.ctypes.data, c.bias.ctypes.data, M, N, K, ctypes.byref(crq),
                    out.ctypes.data, sm, sn)
            f.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int32] * 3 + [ctypes.c_void_p] * 2 + \
                [ctypes.c_int32] * 2
            reps = max(1, int(3e7 / (M * N * K)))
            samples = []
            for _ in range(7):
                t = time.perf_counter()
                for _ in range(reps):
                    f(*args)
                samples.append((time.perf_counter() - t) / reps)
            times[name] = float(np.median(samples)) * 1e9 / (M * N * K)
            outs[name] = out.copy()
        assert all((o == outs["reference"]).all() for o in outs.values()), "outputs differ"
        ref = times["reference"]
        rows.append(f"{f'{M}x{N}x{K}':>16} " + " ".join(
            f"{t:8.3f} ({ref / t:5.1f}x)" for t in times.values()))
    return rows


def _bench_exe(v: tk.Variant, folder: str, work: Path) -> tuple[Path, dict[str, list[tuple[int, int]]]]:
    """The driver with folder's qc_gemm_s8 and qc_dwconv_s8 (reference ones where missing), and
    for each kernel the address ranges of all the code of its file (its static helpers too),
    from the linker map (-ffunction-sections)."""
    tag = f"{v.target}-{v.name}-{folder}"
    exe = work / f"{tag}{'.elf' if v.cc.startswith('arm-none') else ''}"
    inc = ["-I", str(tk.KERNELS / "include")]
    flags = ["-O2", "-std=c99", *v.flags, NOIPA, *inc]
    objs = {}
    for op in tk.OPS:
        obj = work / f"{tag}-{op}.o"
        tk._cc([v.cc, *flags, "-ffunction-sections", "-c", str(tk.kernel_source(folder, op)), "-o", str(obj)])
        objs[op] = obj
    srcs = [tk.HARNESS / "kernel_driver.c", *v.extra_sources]
    mapfile = work / f"{tag}.map"
    tk._cc([v.cc, *flags, "-DQC_DRIVER_BENCH", *map(str, srcs), *map(str, objs.values()), "-o", str(exe),
            f"-Wl,-Map={mapfile}", *v.ldflags, "-lm"])
    return exe, {op: _object_text(mapfile, obj) for op, obj in objs.items()}


def _object_text(mapfile: Path, obj: Path) -> list[tuple[int, int]]:
    """[lo, hi) of every .text* input section of `obj` in a GNU ld map."""
    ranges, section = [], ""
    for line in mapfile.read_text().splitlines():
        parts = line.split()
        if line.startswith(" .") and parts:
            section = parts[0]
            parts = parts[1:]
        elif not line.startswith("  "):
            section = ""
        if section.startswith(".text") and len(parts) == 3 and parts[2] == str(obj):
            lo, size = int(parts[0], 16), int(parts[1], 16)
            if size:
                ranges.append((lo, lo + size))
    if not ranges:
        raise RuntimeError(f"no code of {obj} in {mapfile}")
    return ranges


def _count(v: tk.Variant, exe: Path, ranges: list[tuple[int, int]], cwd: Path) -> int:
    named = {f"r{i}": r for i, r in enumerate(ranges)}
    return sum(count_instructions([*v.run, str(exe)], named, cwd=cwd).values())


def _dw_case(shape: tuple[int, ...]) -> tk.Case:
    c, h, k, st, pad = shape
    rng = np.random.default_rng(0)
    return tk._dw_case(rng, 1, c, 1, h, h, k, k, st, st, 1, 1, pad, pad, pad, pad)


def qemu_counts(shapes, work: Path, op: str = "qc_gemm_s8", targets=None) -> list[str]:
    """Instructions per MAC of one `op` call under qemu, reference vs target (`targets`: the
    target names to count, all by default)."""
    wanted = {("arm-neon", "dotprod"), ("arm-neon", "a53"), ("cortex-m", "m4-dsp")}
    cols = []
    for v in tk.variants():
        if (v.target, v.name) not in wanted or (targets and v.target not in targets):
            continue
        missing = [t for t in v.tools if shutil.which(t) is None]
        if missing:
            cols.append((f"{v.target}/{v.name}", None, f"missing {', '.join(missing)}"))
            continue
        cols.append((f"{v.target}/{v.name}", (v, _bench_exe(v, "reference", work), _bench_exe(v, v.target, work)),
                     ""))
    dw = op == "qc_dwconv_s8"
    rows = [f"qemu (instructions per MAC of one {op} call: reference / target)",
            f"{'C,HxW,k,s,pad' if dw else 'M x N x K':>16} " + " ".join(f"{name:>22}" for name, _, _ in cols)]
    for shape in shapes:
        label = (f"{shape[0]},{shape[1]}x{shape[1]},{shape[2]},{shape[3]},{shape[4]}" if dw
                 else "x".join(map(str, shape)))
        d = work / f"{op}-{label}"
        d.mkdir(exist_ok=True)
        case = _dw_case(shape) if dw else _case(*shape)
        (d / "cases.bin").write_bytes(tk.serialize([case]))
        dims = case.dims
        macs = dims[4] * dims[5] * dims[6] * dims[7] * dims[8] if dw else dims[0] * dims[1] * dims[2]
        cells = []
        for _name, info, why in cols:
            if info is None:
                cells.append(f"{why:>22}")
                continue
            v, ref, tgt = info
            per = [_count(v, exe, ranges[op], d) / macs for exe, ranges in (ref, tgt)]
            cells.append(f"{per[0]:9.3f} / {per[1]:6.3f}")
        rows.append(f"{label:>16} " + " ".join(cells))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-host", action="store_true", help="skip the host timings")
    p.add_argument("--no-qemu", action="store_true", help="skip the qemu instruction counts")
    default = ",".join("x".join(map(str, s)) for s in SHAPES)
    p.add_argument("--shapes", help=f"MxNxK,... (default: {default})")
    dw_default = ",".join("x".join(map(str, s)) for s in DW_SHAPES)
    p.add_argument("--dw-shapes", help=f"depthwise CxHxKxSTRIDExPAD,... alone (default after the "
                   f"GEMM shapes: {dw_default})")
    p.add_argument("--targets", help="comma-separated targets to count under qemu (default: all)")
    args = p.parse_args(argv)
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")] if args.shapes else SHAPES
    targets = set(args.targets.split(",")) if args.targets else None
    if args.dw_shapes:
        dw_shapes = [tuple(int(x) for x in s.split("x")) for s in args.dw_shapes.split(",")]
        with tempfile.TemporaryDirectory(prefix="kernel_gemm-") as tmp:
            print("\n".join(qemu_counts(dw_shapes, Path(tmp), "qc_dwconv_s8", targets)), flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="kernel_gemm-") as tmp:
        work = Path(tmp)
        if not args.no_host:
            print("\n".join(host_times(shapes, work)), flush=True)
        if not args.no_qemu:
            print("\n".join(qemu_counts(shapes, work, targets=targets)), flush=True)
            if not args.shapes:
                print("\n".join(qemu_counts(DW_SHAPES, work, "qc_dwconv_s8", targets)), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as e:  # pragma: no cover
        sys.exit(f"kernel_gemm: {e}")
