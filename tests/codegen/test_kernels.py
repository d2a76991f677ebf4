"""The reference C kernels (codegen/c/kernels/reference) compiled with -Werror -pedantic into a
shared library and called through ctypes: int8 kernels bit for bit against numpy models of
their fixed-point arithmetic (codegen/c/fixedpoint.py) and within one step of onnxruntime;
float kernels against onnxruntime running the single op. Signatures and parameter structs are
read from the headers. `test_under_sanitizers` reruns the file in a child process on a library
built with ASan and UBSan."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcompiler.codegen.c import fixedpoint as fp

KERNELS = Path(fp.__file__).resolve().parent / "kernels"
REF, INC = KERNELS / "reference", KERNELS / "include"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-fPIC"]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
SAN_ENV = "QC_KERNELS_SANITIZE"
INF = float("inf")
P, I32, F32 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_float

# ---- the library: built once per module, signatures and structs parsed from the headers ----


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def _declarations() -> dict[str, tuple]:
    text = _strip_comments((INC / "qc_kernels.h").read_text())
    decls = {}
    for ret, name, params in re.findall(r"\b(void|int32_t)\s+(qc_\w+)\s*\(([^)]*)\)\s*;", text):
        args = [P if "*" in a else F32 if a.split()[0] == "float" else I32 for a in params.split(",")]
        decls[name] = (I32 if ret == "int32_t" else None, args)
    return decls


def _structs() -> dict[str, type]:
    text = _strip_comments((INC / "qc_common.h").read_text() + (INC / "qc_kernels.h").read_text())
    out = {}
    for body, name in re.findall(r"typedef struct\s*\{(.*?)\}\s*(qc_\w+_t)\s*;", text, flags=re.S):
        if "[" in body:  # qc_walk_t: not passed by the tests
            continue
        fields = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            m = re.match(r"(const\s+)?(int32_t|float)\s+(.*)", decl)
            for var in m.group(3).split(","):
                ptr, var = "*" in var, var.replace("*", "").strip()
                fields.append((var, P if ptr else F32 if m.group(2) == "float" else I32))
        out[name] = type(name, (ctypes.Structure,), {"_fields_": fields})
    return out


ST = _structs()


def _arg(a):
    if isinstance(a, np.ndarray):
        assert a.flags.c_contiguous or a.ndim == 0
        return a.ctypes.data
    if isinstance(a, ctypes.Structure):
        return ctypes.addressof(a)
    return a


class Kernels:
    """The library with each kernel callable on numpy arrays, structs, numbers and None."""

    def __init__(self, path: Path):
        self.dll = ctypes.CDLL(str(path))
        for name, (ret, args) in _declarations().items():
            fn = getattr(self.dll, name)
            fn.restype, fn.argtypes = ret, args

    def __getattr__(self, name):
        fn = getattr(self.dll, name)
        return lambda *args: fn(*[_arg(a) for a in args])


def _compile(src: Path, obj: Path, flags: list[str]) -> str:
    r = subprocess.run(["gcc", *flags, "-I", str(INC), "-c", str(src), "-o", str(obj)],
                       capture_output=True, text=True)  # fmt: skip
    return f"{src.name}:\n{r.stderr}" if r.returncode else ""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every reference file compiled alone (-Werror -pedantic), then linked into one library."""
    out = tmp_path_factory.mktemp("qc_kernels")
    flags = CFLAGS + (SANITIZERS if os.environ.get(SAN_ENV) else [])
    srcs = sorted(REF.glob("qc_*.c"))
    objs = [out / (s.stem + ".o") for s in srcs]
    with ThreadPoolExecutor(2) as ex:
        errors = [e for e in ex.map(lambda so: _compile(*so, flags), zip(srcs, objs)) if e]
    assert not errors, "\n".join(errors)
    lib = out / "libqc_kernels.so"
    subprocess.run(["gcc", *flags, "-shared", *map(str, objs), "-o", str(lib), "-lm"], check=True)
    return dict(zip(srcs, objs)), lib


@pytest.fixture(scope="module")
def k(built) -> Kernels:
    return Kernels(built[1])


def test_every_declaration_defined_once_in_its_file(built):
    """Each declared kernel is defined by the file of its name (or its family's), files define
    nothing else global, and every call to another kernel file is named in `/* uses: */`."""
    decls = set(_declarations())
    defined: dict[str, str] = {}
    for src, obj in built[0].items():
        syms = subprocess.run(["nm", "-g", str(obj)], capture_output=True, text=True, check=True).stdout
        mine = {s.split()[-1] for s in syms.splitlines() if s.split()[-2:-1] == ["T"]}
        undef = {s.split()[-1] for s in syms.splitlines() if s.split()[0] == "U"}
        assert src.stem in mine, f"{src.name} does not define {src.stem}"
        assert mine <= decls, f"{src.name} defines undeclared {mine - decls}"
        for s in mine:
            assert s not in defined, f"{s} defined in {src.name} and {defined[s]}"
            defined[s] = src.name
        first = src.read_text().splitlines()[0]
        m = re.fullmatch(r"/\* uses: ([\w, ]+) \*/", first)
        uses = {u.strip() for u in m.group(1).split(",")} if m else set()
        assert {u for u in undef if u.startswith("qc_")} == uses, (src.name, undef, uses)
        assert all((REF / f"{u}.c").exists() for u in uses)
    assert set(defined) == decls, f"declared but not defined: {decls - set(defined)}"


def test_under_sanitizers():
    """This file again, on a library built with -fsanitize=address,undefined (child process,
    without pytest's output capture, which would swallow the report of an aborting sanitizer)."""
    if os.environ.get(SAN_ENV):
        pytest.skip("already running under the sanitizers")
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()  # fmt: skip
    if not os.path.isabs(libasan):
        pytest.skip("gcc has no libasan")
    env = dict(os.environ, **{SAN_ENV: "1"}, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0",
               UBSAN_OPTIONS="print_stacktrace=1")  # fmt: skip
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-s", "-p", "no:cacheprovider",
                        __file__, "-k", "not sanitizers"], env=env, capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2], timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[:6000] + r.stdout[-3000:]


# ---- helpers: random data, strides, onnxruntime, numpy models ----

ACTS = ["NONE", "LEAKY_RELU", "HARD_SIGMOID", "HARD_SWISH", "SIGMOID", "TANH", "SILU"]


def s8(rng, shape, lo=-128, hi=127) -> np.ndarray:
    return np.asarray(rng.integers(lo, hi, size=shape, dtype=np.int8, endpoint=True))


def f32(rng, shape, lo=-3.0, hi=3.0) -> np.ndarray:
    return np.asarray(rng.uniform(lo, hi, size=shape), np.float32)


def i32(*values) -> np.ndarray:
    return np.array(values, dtype=np.int32).reshape(-1)


def bstrides(a: np.ndarray, shape) -> np.ndarray:
    """Element strides of `a` broadcast to `shape` (0 on broadcast dims); at least one entry."""
    v = np.broadcast_to(a, shape)
    return i32(*[s // a.itemsize for s in v.strides], 0)


def multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    pairs = [fp.quantize_multiplier(float(r)) for r in np.atleast_1d(reals)]
    return i32(*[m for m, _ in pairs]), i32(*[s for _, s in pairs])


def ort_run(nodes, feeds, inits=None, opset=19, out_type=TensorProto.FLOAT):
    """Run a graph of `nodes` from `feeds` (graph inputs) and `inits` to its output "y"."""
    inits = inits or {}
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
           for n, v in feeds.items()]  # fmt: skip
    g = helper.make_graph(nodes, "k", ins, [helper.make_tensor_value_info("y", out_type, None)],
                          [numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()])
    ops = [helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)]
    m = helper.make_model(g, opset_imports=ops, ir_version=9)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def ort_op(op, inputs: list, attrs=None, opset=19, **kw):
    """One ONNX op on positional inputs (None for an absent optional input)."""
    names = [f"i{i}" if v is not None else "" for i, v in enumerate(inputs)]
    feeds = {n: np.asarray(v) for n, v in zip(names, inputs) if v is not None}
    return ort_run([helper.make_node(op, names, ["y"], **(attrs or {}))], feeds, opset=opset, **kw)


def act_np(x, act: int, alpha: float, beta: float) -> np.ndarray:
    """qc_act_f32 in numpy float32."""
    x = np.asarray(x, np.float32)
    a, b, one = np.float32(alpha), np.float32(beta), np.float32(1)
    with np.errstate(over="ignore"):
        return [lambda: x, lambda: np.where(x >= 0, x, x * a), lambda: np.clip(a * x + b, 0, 1),
                lambda: x * np.clip(x / np.float32(6) + np.float32(0.5), 0, 1),
                lambda: one / (one + np.exp(-x)), lambda: np.tanh(x),
                lambda: x / (one + np.exp(-x))][act]().astype(np.float32)  # fmt: skip


def act_nodes(act: int, alpha: float, beta: float, src: str, dst: str) -> list:
    """The ONNX nodes of a QC_ACT_* epilogue."""
    mk = helper.make_node
    name = ACTS[act]
    if name == "NONE":
        return [mk("Identity", [src], [dst])]
    if name == "SILU":
        return [mk("Sigmoid", [src], [dst + "_s"]), mk("Mul", [src, dst + "_s"], [dst])]
    attrs = {"LEAKY_RELU": dict(alpha=alpha), "HARD_SIGMOID": dict(alpha=alpha, beta=beta)}
    op = {"LEAKY_RELU": "LeakyRelu", "HARD_SIGMOID": "HardSigmoid", "HARD_SWISH": "HardSwish",
          "SIGMOID": "Sigmoid", "TANH": "Tanh"}[name]  # fmt: skip
    return [mk(op, [src], [dst], **attrs.get(name, {}))]


class Rq:
    """A qc_requant_t and its numpy model. Multipliers are chosen from the accumulators so that
    outputs spread over the int8 range and some saturate."""

    def __init__(self, rng, acc: np.ndarray, nch: int, per_channel: bool, zp=5, qmin=-128,
                 qmax=127, act=0, alpha=0.1, beta=0.5, spread=1.5):  # fmt: skip
        top = max(float(np.abs(acc).max()), 1.0)
        n = nch if per_channel else 1
        self.mult, self.shift = multipliers(rng.uniform(0.3, 1.0, n) * spread * 127 / top)
        self.fscale = (rng.uniform(0.5, 1.0, n) * 6 / top).astype(np.float32)
        self.per_channel, self.zp, self.qmin, self.qmax = int(per_channel), zp, qmin, qmax
        self.act, self.alpha, self.beta, self.out_scale = act, alpha, beta, 6.0 / 127

    def struct(self):
        return ST["qc_requant_t"](
            mult=self.mult.ctypes.data, shift=self.shift.ctypes.data, per_channel=self.per_channel,
            out_zp=self.zp, qmin=self.qmin, qmax=self.qmax, act=self.act,
            fscale=self.fscale.ctypes.data, alpha=self.alpha, beta=self.beta,
            out_scale=self.out_scale)  # fmt: skip

    def ref(self, acc: np.ndarray, ch) -> np.ndarray:
        c = np.asarray(ch) if self.per_channel else np.zeros_like(ch)
        if self.act == 0:
            return fp.requantize(acc, self.mult[c], self.shift[c], self.zp, self.qmin, self.qmax)
        real = np.asarray(acc).astype(np.float32) * self.fscale[c]
        y = act_np(real, self.act, self.alpha, self.beta)
        return fp.quantize_f32(y, self.out_scale, self.zp, self.qmin, self.qmax)


def taps(n_out, s, k, d, p0, size):
    """Input coordinates (n_out, k) of each tap of each output and whether they are inside."""
    i = np.arange(n_out)[:, None] * s - p0 + np.arange(k)[None, :] * d
    return i, (i >= 0) & (i < size)


def windows(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """(N, C, oh, ow, kh, kw) tap values (clamped coordinates) and the (oh, ow, kh, kw) mask."""
    H, W = x.shape[2:]
    iy, vy = taps(oh, sh, kh, dh, pt, H)
    ix, vx = taps(ow, sw, kw, dw, pl, W)
    win = x[:, :, np.clip(iy, 0, H - 1)[:, None, :, None], np.clip(ix, 0, W - 1)[None, :, None, :]]
    return win, vy[:, None, :, None] & vx[None, :, None, :]


def out_size(size, k, s, d, p0, p1, ceil=False):
    span = size + p0 + p1 - ((k - 1) * d + 1)
    n = (-(-span // s) if ceil else span // s) + 1
    if ceil and (n - 1) * s >= size + p0:  # the last window must start inside
        n -= 1
    return n


# ---- int8 GEMM and the requantization epilogue ----

GEMM_SIZES = [(1, 1, 1), (3, 5, 17), (17, 33, 3), (33, 17, 64), (4, 8, 16), (2, 70, 33), (5, 9, 100), (35, 6, 8)]


@pytest.mark.parametrize("M,N,K", GEMM_SIZES)
@pytest.mark.parametrize("per_channel", [False, True])
def test_gemm_s8(k, M, N, K, per_channel):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    a, w = s8(rng, (M, K)), s8(rng, (N, K), -127)
    bias = rng.integers(-20000, 20000, N).astype(np.int32)
    for b in (bias, None):
        acc = a.astype(np.int64) @ w.astype(np.int64).T + (0 if b is None else b)
        rq = Rq(rng, acc, N, per_channel, zp=int(rng.integers(-20, 20)), spread=3.0)
        want = rq.ref(acc, np.arange(N))
        for sm, sn, view in ((N, 1, lambda o: o), (1, M, lambda o: o.T)):
            out = np.full((M, N) if sm == N else (N, M), 77, np.int8)
            k.qc_gemm_s8(a, w, b, M, N, K, rq.struct(), out, sm, sn)
            np.testing.assert_array_equal(view(out), want)
    assert (want == 127).any() or (want == -128).any() or M * N < 10  # saturation exercised


@pytest.mark.parametrize("act", range(len(ACTS)))
@pytest.mark.parametrize("clamp", ["none", "relu", "relu6"])
def test_gemm_s8_epilogues(k, act, clamp):
    """Float epilogues (activation then round half to even) and fused ReLU/ReLU6 clamps."""
    rng = np.random.default_rng(act * 10 + len(clamp))
    M, N, K = 9, 13, 21
    a, w = s8(rng, (M, K)), s8(rng, (N, K), -127)
    bias = rng.integers(-3000, 3000, N).astype(np.int32)
    acc = a.astype(np.int64) @ w.astype(np.int64).T + bias
    zp = -10
    qmin, qmax = {"none": (-128, 127), "relu": (zp, 127), "relu6": (zp, zp + 100)}[clamp]
    rq = Rq(rng, acc, N, True, zp=zp, qmin=qmin, qmax=qmax, act=act, alpha=0.2, beta=0.5)
    out = np.zeros((M, N), np.int8)
    k.qc_gemm_s8(a, w, bias, M, N, K, rq.struct(), out, N, 1)
    np.testing.assert_array_equal(out, rq.ref(acc, np.arange(N)))
    assert out.min() >= qmin and out.max() <= qmax and len(np.unique(out)) > 8


@pytest.mark.parametrize("clamp", ["none", "relu6"])
def test_gemm_s8_linear_epilogue(k, clamp):
    """QC_ACT_LINEAR (float epilogue without activation, multipliers >= 1), per channel and per
    tensor, over scales that put most outputs far beyond the clamp."""
    rng = np.random.default_rng(5 + len(clamp))
    M, N, K = 37, 6, 40
    a, w = s8(rng, (M, K)), s8(rng, (N, K))
    acc = a.astype(np.int64) @ w.astype(np.int64).T
    zp = 3
    qmin, qmax = (-128, 127) if clamp == "none" else (zp, zp + 60)
    fscale = np.array([1e-4, 3e-3, 0.05, 1.0, 7.0, 1e-6], np.float32)
    for per_channel in (1, 0):
        rq = ST["qc_requant_t"](mult=i32(0).ctypes.data, shift=i32(1).ctypes.data, per_channel=per_channel,
                                out_zp=zp, qmin=qmin, qmax=qmax, act=7, fscale=fscale.ctypes.data,
                                out_scale=0.02)  # fmt: skip
        out = np.zeros((M, N), np.int8)
        k.qc_gemm_s8(a, w, None, M, N, K, rq, out, N, 1)
        fs = fscale if per_channel else np.full(N, fscale[0], np.float32)
        want = fp.quantize_f32(acc.astype(np.float32) * fs, 0.02, zp, qmin, qmax)
        np.testing.assert_array_equal(out, want)
        assert len(np.unique(out)) > 5 or not per_channel


def test_gemm_s8_int32_extremes(k):
    """Accumulators reaching INT32_MAX and INT32_MIN exactly (bias + 4096 full-scale products)."""
    K = 4096
    a = np.full((2, K), -128, np.int8)
    w = np.stack([np.full(K, -128, np.int8), np.full(K, 127, np.int8)])
    bias = i32(2**31 - 1 - 16384 * K, -(2**31) + 16256 * K)
    acc = a.astype(np.int64) @ w.astype(np.int64).T + bias
    assert acc[0, 0] == 2**31 - 1 and acc[0, 1] == -(2**31)
    mult, shift = multipliers([2.0**-25, 2.0**-24])
    rq = ST["qc_requant_t"](mult=mult.ctypes.data, shift=shift.ctypes.data, per_channel=1,
                            out_zp=-1, qmin=-128, qmax=127)  # fmt: skip
    out = np.zeros((2, 2), np.int8)
    k.qc_gemm_s8(a, w, bias, 2, 2, K, rq, out, 2, 1)
    np.testing.assert_array_equal(out, fp.requantize(acc, mult, shift, -1))
    assert out[0, 0] == 63 and out[0, 1] == -128


# ---- int8 convolutions and MatMul ----

# n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, (pt, pl, pb, pr), group
CONV_CASES = [
    (1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),
    (2, 4, 9, 7, 6, 3, 3, 2, 2, 1, 1, (1, 0, 2, 1), 2),  # group 2, stride 2, asymmetric pads
    (1, 4, 10, 10, 4, 3, 3, 1, 1, 2, 2, (2, 2, 2, 2), 4),  # group = cin, dilation 2
    (1, 5, 11, 11, 3, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0), 1),  # 1x1 over 121 pixels (2 chunks)
    (1, 6, 6, 13, 4, 2, 5, 1, 3, 1, 1, (0, 2, 1, 0), 2),
    (1, 3, 5, 5, 8, 5, 5, 1, 1, 1, 1, (0, 0, 0, 0), 1),  # one output pixel
    (1, 4, 12, 12, 8, 3, 3, 2, 1, 1, 2, (1, 2, 0, 3), 4),  # group 4, cout/g 2
    (1, 2, 3, 3, 5, 3, 3, 1, 1, 1, 1, (2, 2, 2, 2), 1),  # pads larger than the image reach
    # the reference's pixel-major im2col: interior pixels, chunks across rows, 1x1 from the planes
    (1, 3, 9, 30, 4, 3, 3, 1, 1, 2, 1, (2, 1, 2, 1), 1),  # 3x3, vertical dilation 2, 5 chunks
    (1, 4, 20, 21, 5, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 1),  # 3x3 stride 2
    (1, 3, 6, 17, 3, 3, 2, 1, 1, 1, 1, (1, 0, 1, 1), 1),  # 3x2, rows partly outside
    (1, 5, 9, 9, 3, 1, 1, 2, 2, 1, 1, (0, 0, 0, 0), 1),  # 1x1 stride 2
    (2, 6, 7, 10, 4, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0), 2),  # 1x1 from the planes: 64 + 6 pixels, groups
    (1, 3, 5, 6, 2, 1, 1, 1, 1, 1, 1, (1, 1, 0, 1), 1),  # 1x1 with pads
    (1, 4, 5, 6, 3, 1, 1, 1, 1, 1, 1, (0, 0, 1, 0), 1),  # 1x1 with a bottom pad only
]


def conv_params(case, x_zp=0, transpose_out=None):
    n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, (pt, pl, pb, pr), group = case
    if transpose_out is None:
        oh, ow = out_size(h, kh, sh, dh, pt, pb), out_size(w, kw, sw, dw, pl, pr)
    else:
        oh, ow = transpose_out
    return dict(n=n, cin=cin, h=h, w=w, cout=cout, oh=oh, ow=ow, kh=kh, kw=kw, sh=sh, sw=sw,
                dh=dh, dw=dw, pt=pt, pl=pl, group=group, x_zp=x_zp)  # fmt: skip


def conv_acc(x, w, bias, p) -> np.ndarray:
    """bias + sum over in-bounds taps of (x - x_zp) * w, int64, (N, cout, oh, ow)."""
    win, valid = windows(x.astype(np.int64), p["kh"], p["kw"], p["sh"], p["sw"], p["dh"], p["dw"],
                         p["pt"], p["pl"], p["oh"], p["ow"])  # fmt: skip
    g, N, cout = p["group"], x.shape[0], w.shape[0]
    xw = np.where(valid, win - p["x_zp"], 0).reshape(N, g, -1, *valid.shape)
    wg = w.astype(np.int64).reshape(g, cout // g, -1, p["kh"], p["kw"])
    acc = np.einsum("ngcyxij,gocij->ngoyx", xw, wg).reshape(N, cout, p["oh"], p["ow"])
    return acc + (0 if bias is None else bias.reshape(1, -1, 1, 1))


def conv_attrs(p, pads):
    return dict(kernel_shape=[p["kh"], p["kw"]], strides=[p["sh"], p["sw"]], pads=list(pads),
                dilations=[p["dh"], p["dw"]], group=p["group"])  # fmt: skip


def check_qlinearconv(rng, x, w, bias, p, pads, got_fn):
    """The int8 conv against onnxruntime's QLinearConv (per-channel weights) within one step."""
    sx, sw = 0.02, rng.uniform(0.004, 0.01, w.shape[0]).astype(np.float32)
    acc = conv_acc(x, w, bias, p)
    sy = float(sx * sw.max() * np.abs(acc).max() / 250)
    zy = 3
    ins = [x, np.float32(sx), np.int8(p["x_zp"]), w, sw, np.zeros(len(sw), np.int8), np.float32(sy),
           np.int8(zy), bias]  # fmt: skip
    want = ort_op("QLinearConv", ins, conv_attrs(p, pads), out_type=TensorProto.INT8)
    mult, shift = multipliers(sx * sw.astype(np.float64) / sy)
    rq = ST["qc_requant_t"](mult=mult.ctypes.data, shift=shift.ctypes.data, per_channel=1,
                            out_zp=zy, qmin=-128, qmax=127)  # fmt: skip
    got = got_fn(rq)
    assert np.abs(got.astype(np.int32) - want).max() <= 1
    assert (got == 127).any() or (got == -128).any()


@pytest.mark.parametrize("case", CONV_CASES, ids=range(len(CONV_CASES)))
def test_conv_s8(k, case):
    rng = np.random.default_rng(len(CONV_CASES) + CONV_CASES.index(case))
    p = conv_params(case, x_zp=int(rng.integers(-40, 40)))
    pads = case[-2]
    x = s8(rng, (p["n"], p["cin"], p["h"], p["w"]))
    w = s8(rng, (p["cout"], p["cin"] // p["group"], p["kh"], p["kw"]), -127)
    bias = rng.integers(-5000, 5000, p["cout"]).astype(np.int32)
    wsum = w.astype(np.int64).sum(axis=(1, 2, 3))
    folded = (bias - p["x_zp"] * wsum).astype(np.int32)
    acc = conv_acc(x, w, bias, p)
    # The model is ONNX Conv on (x - x_zp) with zero padding (exact in float at these sizes).
    xf = (x - np.float32(p["x_zp"])).astype(np.float32)
    want_f = ort_op("Conv", [xf, w.astype(np.float32), bias.astype(np.float32)], conv_attrs(p, pads))
    np.testing.assert_array_equal(want_f, acc.astype(np.float32))

    cp = ST["qc_conv_params_t"](**p)
    K = p["cin"] // p["group"] * p["kh"] * p["kw"]
    assert k.qc_conv_s8_scratch(cp) == min(64, p["oh"] * p["ow"]) * K
    ch = np.arange(p["cout"]).reshape(1, -1, 1, 1)

    def run(rq, b=folded):
        col = np.empty(k.qc_conv_s8_scratch(cp), np.int8)  # exactly the scratch size (ASan)
        y = np.empty((p["n"], p["cout"], p["oh"], p["ow"]), np.int8)
        k.qc_conv_s8(x, w, b, cp, rq, y, col)
        return y

    for per_channel, act in ((False, 0), (True, 0), (True, 6), (False, 1)):
        rq = Rq(rng, acc, p["cout"], per_channel, zp=-3, act=act, spread=2.0)
        np.testing.assert_array_equal(run(rq.struct()), rq.ref(acc, ch))
    # bias NULL: the raw sum over the x_zp-padded input.
    nobias = acc + (p["x_zp"] * wsum - bias).reshape(1, -1, 1, 1)
    rq = Rq(rng, nobias, p["cout"], True)
    np.testing.assert_array_equal(run(rq.struct(), None), rq.ref(nobias, ch))
    check_qlinearconv(rng, x, w, bias, p, pads, run)


# n, cin, h, w, multiplier, kh, kw, sh, sw, dh, dw, pads
DW_CASES = [
    (1, 4, 7, 7, 1, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1)),
    (2, 3, 8, 9, 2, 3, 3, 2, 2, 1, 1, (0, 1, 1, 0)),  # channel multiplier 2
    (1, 5, 9, 6, 1, 5, 3, 1, 2, 2, 1, (4, 1, 3, 2)),  # dilation 2, asymmetric pads
    (1, 2, 4, 4, 3, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0)),
    (1, 2, 6, 150, 1, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1)),  # rows of several 64-output blocks
    (1, 2, 7, 141, 1, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1)),  # stride 2 over blocks
    (1, 2, 9, 70, 2, 5, 5, 1, 1, 1, 1, (2, 2, 2, 2)),  # 5x5, multiplier 2
    (1, 3, 8, 40, 1, 3, 3, 1, 1, 1, 2, (1, 2, 1, 2)),  # 3-wide with horizontal dilation 2
    (1, 2, 7, 30, 1, 3, 3, 3, 3, 1, 1, (1, 1, 1, 1)),  # stride 3
    (1, 2, 5, 9, 1, 3, 3, 1, 1, 1, 1, (3, 3, 3, 3)),  # rows and columns without any tap
    (1, 2, 3, 67, 1, 3, 1, 1, 1, 1, 1, (1, 0, 1, 0)),  # 3x1
    # planes over QC_DW_PLANE bytes: row by row with edge columns
    (1, 2, 20, 70, 1, 5, 5, 1, 1, 1, 1, (2, 2, 2, 2)),
    (1, 2, 30, 40, 2, 3, 3, 1, 1, 1, 2, (1, 2, 1, 2)),
    (1, 2, 40, 40, 1, 3, 3, 3, 3, 1, 1, (1, 1, 1, 1)),
    (1, 2, 20, 67, 1, 3, 1, 1, 1, 1, 1, (1, 0, 1, 0)),
    (1, 2, 33, 31, 1, 3, 3, 2, 2, 1, 1, (0, 1, 1, 0)),
    # 3x3 over three padded rows on the stack (qc_dw_rows), and rows too long for it
    (1, 2, 30, 40, 1, 3, 3, 1, 1, 2, 1, (2, 0, 2, 2)),
    (1, 2, 27, 45, 2, 3, 3, 2, 1, 1, 1, (1, 2, 0, 1)),
    (1, 1, 4, 300, 1, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1)),
]


@pytest.mark.parametrize("case", DW_CASES, ids=range(len(DW_CASES)))
def test_dwconv_s8(k, case):
    rng = np.random.default_rng(100 + DW_CASES.index(case))
    n, cin, h, w_, m, kh, kw, sh, sw, dh, dw, pads = case
    p = conv_params((n, cin, h, w_, cin * m, kh, kw, sh, sw, dh, dw, pads, cin),
                    x_zp=int(rng.integers(-60, 60)))  # fmt: skip
    x = s8(rng, (n, cin, h, w_))
    w = s8(rng, (cin * m, 1, kh, kw), -127)
    bias = rng.integers(-3000, 3000, cin * m).astype(np.int32)
    cp, ch = ST["qc_conv_params_t"](**p), np.arange(cin * m).reshape(1, -1, 1, 1)

    def run(rq, b=bias):
        y = np.empty((n, cin * m, p["oh"], p["ow"]), np.int8)
        k.qc_dwconv_s8(x, w, b, cp, rq, y)
        return y

    for b in (bias, None):
        acc = conv_acc(x, w, b, p)
        for per_channel, act in ((True, 0), (False, 0), (True, 3)):
            rq = Rq(rng, acc, cin * m, per_channel, zp=7, act=act, spread=2.0)
            np.testing.assert_array_equal(run(rq.struct(), b), rq.ref(acc, ch))
    check_qlinearconv(rng, x, w, bias, p, pads, run)


@pytest.mark.parametrize("H", [3, 20])  # through the padded plane, row by row
def test_dwconv_s8_requant_shifts(k, H):
    """Per-channel multipliers over every shift range (31..62, the vectorized high-word path
    from 33 on, a negative multiplier and a zero one) and accumulators near the int32 limits."""
    rng = np.random.default_rng(7)
    C, W = 12, 70
    p = conv_params((1, C, H, W, C, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), C), x_zp=-3)
    x, w = s8(rng, (1, C, H, W)), s8(rng, (C, 1, 3, 3))
    reals = [0.9, 0.4, 0.2, 2.0**-3, 2.0**-9, 2.0**-14, 2.0**-20, 2.0**-28, 2.0**-31, 2.0**-40, -0.01, 0.0]
    mult, shift = multipliers(reals)
    assert shift.min() <= 32 and shift.max() == 62 and (mult < 0).any()
    bias = np.array([0, 5, -5, 100, -3000, 2**20, -(2**21), 2**28, 2**30, -(2**30), 7, 1], np.int32)
    acc = conv_acc(x, w, bias, p)
    assert np.abs(acc).max() < 2**31
    for zp, qmin, qmax in ((0, -128, 127), (-20, -20, 127), (11, -50, 60)):
        rq = ST["qc_requant_t"](mult=mult.ctypes.data, shift=shift.ctypes.data, per_channel=1,
                                out_zp=zp, qmin=qmin, qmax=qmax)  # fmt: skip
        y = np.empty((1, C, p["oh"], p["ow"]), np.int8)
        k.qc_dwconv_s8(x, w, bias, ST["qc_conv_params_t"](**p), rq, y)
        ch = np.arange(C).reshape(1, -1, 1, 1)
        np.testing.assert_array_equal(y, fp.requantize(acc, mult[ch], shift[ch], zp, qmin, qmax))


# n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, pads, output_padding, group
CT_CASES = [
    (1, 3, 4, 5, 2, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), (1, 0), 1),
    (2, 4, 3, 3, 6, 2, 3, 1, 2, 1, 1, (0, 1, 0, 0), (0, 1), 2),
    (1, 2, 5, 4, 4, 3, 2, 3, 1, 2, 1, (2, 0, 1, 1), (2, 0), 2),
    (1, 4, 3, 3, 4, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0), (0, 0), 4),
    (1, 2, 2, 3, 3, 4, 4, 2, 3, 1, 1, (3, 0, 2, 1), (1, 2), 1),
]


def convt_params(case, x_zp=0):
    n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, (pt, pl, pb, pr), (oph, opw), g = case
    oh = sh * (h - 1) + oph + (kh - 1) * dh + 1 - pt - pb
    ow = sw * (w - 1) + opw + (kw - 1) * dw + 1 - pl - pr
    return conv_params((n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, (pt, pl, pb, pr), g), x_zp, (oh, ow))


def convt_attrs(case):
    *_, kh, kw, sh, sw, dh, dw, pads, op, g = case
    return dict(kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw], pads=list(pads),
                output_padding=list(op), group=g)  # fmt: skip


def convt_acc(x, w, bias, p) -> np.ndarray:
    """bias + sum (x - x_zp) * w scattered to oy = iy*sh - pt + ky*dh (int64)."""
    N, cin, H, W = x.shape
    g, kh, kw, sh, sw, dh, dw = (p[s] for s in ("group", "kh", "kw", "sh", "sw", "dh", "dw"))
    buf = np.zeros((N, p["cout"], max((H - 1) * sh + (kh - 1) * dh + 1, p["pt"] + p["oh"]),
                    max((W - 1) * sw + (kw - 1) * dw + 1, p["pl"] + p["ow"])), np.int64)  # fmt: skip
    xs = (x.astype(np.int64) - p["x_zp"]).reshape(N, g, cin // g, H, W)
    ws = w.astype(np.int64).reshape(g, cin // g, -1, kh, kw)
    for ky in range(kh):
        for kx in range(kw):
            c = np.einsum("ngchw,gcd->ngdhw", xs, ws[..., ky, kx]).reshape(N, -1, H, W)
            buf[:, :, ky * dh: ky * dh + (H - 1) * sh + 1: sh, kx * dw: kx * dw + (W - 1) * sw + 1: sw] += c
    acc = buf[:, :, p["pt"]: p["pt"] + p["oh"], p["pl"]: p["pl"] + p["ow"]]
    return acc + (0 if bias is None else bias.reshape(1, -1, 1, 1))


@pytest.mark.parametrize("case", CT_CASES, ids=range(len(CT_CASES)))
def test_convtranspose_s8(k, case):
    rng = np.random.default_rng(200 + CT_CASES.index(case))
    p = convt_params(case, x_zp=int(rng.integers(-30, 30)))
    x = s8(rng, (p["n"], p["cin"], p["h"], p["w"]))
    w = s8(rng, (p["cin"], p["cout"] // p["group"], p["kh"], p["kw"]), -127)
    bias = rng.integers(-4000, 4000, p["cout"]).astype(np.int32)
    acc = convt_acc(x, w, bias, p)
    xf = (x - np.float32(p["x_zp"])).astype(np.float32)
    want_f = ort_op("ConvTranspose", [xf, w.astype(np.float32), bias.astype(np.float32)], convt_attrs(case))
    np.testing.assert_array_equal(want_f, acc.astype(np.float32))  # the model is ONNX's
    cp, ch = ST["qc_conv_params_t"](**p), np.arange(p["cout"]).reshape(1, -1, 1, 1)
    for b, per_channel, act in ((bias, True, 0), (None, False, 0), (bias, True, 5)):
        a = convt_acc(x, w, b, p)
        rq = Rq(rng, a, p["cout"], per_channel, zp=-20, act=act, spread=2.0)
        y = np.empty((p["n"], p["cout"], p["oh"], p["ow"]), np.int8)
        scratch = np.empty(p["cout"] * p["oh"] * p["ow"], np.int32)
        k.qc_convtranspose_s8(x, w, b, cp, rq.struct(), y, scratch)
        np.testing.assert_array_equal(y, rq.ref(a, ch))


MATMUL_CASES = [(1, 1, 1, 1, ""), (3, 3, 17, 5, "b"), (2, 17, 33, 70, ""), (2, 4, 16, 8, "a"),
                (1, 33, 3, 17, ""), (2, 5, 128, 9, "b"), (1, 3, 129, 4, "")]  # fmt: skip


@pytest.mark.parametrize("batch,M,K,N,bcast", MATMUL_CASES)
def test_matmul_s8(k, batch, M, K, N, bcast):
    rng = np.random.default_rng(M * K * N + batch)
    a = s8(rng, (M, K) if bcast == "a" else (batch, M, K))
    b = s8(rng, (K, N) if bcast == "b" else (batch, K, N))
    a_zp, b_zp = int(rng.integers(-50, 50)), int(rng.integers(-50, 50))
    acc = np.matmul(a.astype(np.int64) - a_zp, b.astype(np.int64) - b_zp)
    acc = np.broadcast_to(acc, (batch, M, N))
    ab, bb = (0 if bcast == "a" else M * K), (0 if bcast == "b" else K * N)
    for act in (0, 4):
        rq = Rq(rng, acc, 1, False, zp=9, act=act, spread=2.0)
        y = np.empty((batch, M, N), np.int8)
        k.qc_matmul_s8(a, b, batch, M, K, N, ab, bb, a_zp, b_zp, rq.struct(), y)
        np.testing.assert_array_equal(y, rq.ref(acc, 0))
    # onnxruntime's QLinearMatMul, within one step.
    sa, sb = 0.03, 0.02
    sy = float(sa * sb * max(np.abs(acc).max(), 1) / 100)
    ins = [a, np.float32(sa), np.int8(a_zp), b, np.float32(sb), np.int8(b_zp), np.float32(sy), np.int8(-4)]
    want = ort_op("QLinearMatMul", ins, out_type=TensorProto.INT8)
    mult, shift = multipliers([sa * sb / sy])
    rq = ST["qc_requant_t"](mult=mult.ctypes.data, shift=shift.ctypes.data, out_zp=-4, qmin=-128, qmax=127)
    y = np.empty((batch, M, N), np.int8)
    k.qc_matmul_s8(a, b, batch, M, K, N, ab, bb, a_zp, b_zp, rq, y)
    assert np.abs(y.astype(np.int32) - want.reshape(batch, M, N)).max() <= 1


# ---- int8 elementwise ----

BCAST_SHAPES = [((7,), (7,)), ((1,), (5,)), ((), ()), ((2, 3, 4), (3, 1)), ((2, 1, 4, 1), (1, 3, 1, 5)),
                ((2, 1, 2, 1, 3, 2), (1, 2, 1, 3, 1, 2)), ((3, 1, 33), (3, 17, 1)),
                ((1, 2, 1, 2, 3), (2, 1, 2, 1, 1))]  # fmt: skip


def qdq_ref(op, a, sa, za, b, sb, zb, sy, zy):
    """The same op as a QDQ graph in onnxruntime (float math in between)."""
    mk = helper.make_node
    nodes = [mk("DequantizeLinear", ["a", "sa", "za"], ["fa"]), mk("DequantizeLinear", ["b", "sb", "zb"], ["fb"]),
             mk(op, ["fa", "fb"], ["fy"]), mk("QuantizeLinear", ["fy", "sy", "zy"], ["y"])]  # fmt: skip
    inits = dict(sa=np.float32(sa), za=np.int8(za), sb=np.float32(sb), zb=np.int8(zb), sy=np.float32(sy),
                 zy=np.int8(zy))  # fmt: skip
    return ort_run(nodes, {"a": a, "b": b}, inits, out_type=TensorProto.INT8)


@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=range(len(BCAST_SHAPES)))
@pytest.mark.parametrize("sub", [False, True])
def test_add_s8(k, shapes, sub):
    rng = np.random.default_rng(BCAST_SHAPES.index(shapes) + 50 * sub)
    a, b = s8(rng, shapes[0]), s8(rng, shapes[1])
    out = np.broadcast_shapes(a.shape, b.shape)
    for sa, sb, sy, relu in ((0.02, 0.05, 0.04, False), (0.1, 0.003, 0.05, True), (0.04, 0.04, 0.01, False)):
        za, zb, zy = (int(v) for v in rng.integers(-30, 30, 3))
        prm = fp.add_params(sa, za, sb, zb, sy, zy, qmin=zy if relu else -128, subtract=sub)
        y = np.empty(out, np.int8)
        k.qc_add_s8(a, b, y, ST["qc_add_params_t"](**prm), len(out), i32(*out, 1), bstrides(a, out),
                    bstrides(b, out))  # fmt: skip
        np.testing.assert_array_equal(y, fp.add_reference(a, b, prm))
        if not relu:
            want = qdq_ref("Sub" if sub else "Add", a, sa, za, b, sb, zb, sy, zy)
            assert np.abs(y.astype(np.int32) - want).max(initial=0) <= 1
    assert ((y == 127) | (y == -128)).any() or y.size < 5


@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=range(len(BCAST_SHAPES)))
def test_mul_s8(k, shapes):
    rng = np.random.default_rng(100 + BCAST_SHAPES.index(shapes))
    a, b = s8(rng, shapes[0]), s8(rng, shapes[1])
    out = np.broadcast_shapes(a.shape, b.shape)
    for sa, sb, sy, relu in ((0.02, 0.05, 0.1, False), (0.1, 0.003, 0.02, True), (0.04, 0.04, 0.5, False)):
        za, zb, zy = (int(v) for v in rng.integers(-30, 30, 3))
        prm = fp.mul_params(sa, za, sb, zb, sy, zy, qmin=zy if relu else -128)
        y = np.empty(out, np.int8)
        k.qc_mul_s8(a, b, y, ST["qc_mul_params_t"](**prm), len(out), i32(*out, 1), bstrides(a, out),
                    bstrides(b, out))  # fmt: skip
        np.testing.assert_array_equal(y, fp.mul_reference(a, b, prm))
        if not relu:
            want = qdq_ref("Mul", a, sa, za, b, sb, zb, sy, zy)
            assert np.abs(y.astype(np.int32) - want).max(initial=0) <= 1


def test_add_mul_s8_shifts(k):
    """Add/Sub and Mul parameters over the shift ranges the high-word rows handle (input shifts
    below 33 shifted up, negative multipliers, zero points at the int8 ends so |x - zp| = 255)
    and beyond them (the scalar rows), contiguous and broadcast, against the numpy models."""
    rng = np.random.default_rng(11)
    a, b = s8(rng, (3, 67)), s8(rng, (3, 67))
    a[0, :4], b[0, :4] = (-128, 127, -128, 127), (-128, -128, 127, 127)
    checked = 0
    for i in range(80):
        prm = dict(a_zp=int(rng.choice([-128, 127, 5])), b_zp=int(rng.choice([-128, 127, -7])),
                   y_zp=int(rng.integers(-20, 20)), left_shift=int(rng.choice([0, 8, 20, 23, 24])),
                   a_mult=int(rng.integers(2**30, 2**31)) * int(rng.choice([1, -1])),
                   a_shift=int(rng.integers(28, 45)), b_mult=int(rng.integers(2**30, 2**31)) * int(rng.choice([1, -1])),
                   b_shift=int(rng.integers(28, 45)), y_mult=int(rng.integers(2**30, 2**31)) * int(rng.choice([1, -1])),
                   y_shift=int(rng.integers(30, 62)), qmin=-128, qmax=int(rng.choice([127, 60])))  # fmt: skip
        lift = 2 ** prm["left_shift"]
        if (255 * lift) >= 2**31:  # the int32 a' of the definition
            continue
        # keep every product of the definition inside int32 (the kernels' precondition)
        sa = fp.mulq((a.astype(np.int64) - prm["a_zp"]) * lift, prm["a_mult"], prm["a_shift"])
        sb = fp.mulq((b.astype(np.int64) - prm["b_zp"]) * lift, prm["b_mult"], prm["b_shift"])
        if np.abs(sa).max() + np.abs(sb).max() >= 2**31 or np.abs(fp.mulq(sa + sb, prm["y_mult"], prm["y_shift"])).max() >= 2**31:
            continue
        checked += 1
        for aa, bb in ((a, b), (a, b[:1]), (a, b[:, :1]), (a[:, :1], b)):
            aa, bb = np.ascontiguousarray(aa), np.ascontiguousarray(bb)
            y = np.empty(a.shape, np.int8)
            k.qc_add_s8(aa, bb, y, ST["qc_add_params_t"](**prm), 2, i32(*a.shape, 1), bstrides(aa, a.shape),
                        bstrides(bb, a.shape))  # fmt: skip
            np.testing.assert_array_equal(y, fp.add_reference(aa, bb, prm))
        mp = dict(a_zp=prm["a_zp"], b_zp=prm["b_zp"], y_zp=prm["y_zp"], mult=prm["y_mult"],
                  shift=int(rng.integers(17, 50)), qmin=-128, qmax=127)  # fmt: skip
        prod = (a.astype(np.int64) - mp["a_zp"]) * (b.astype(np.int64) - mp["b_zp"])
        if np.abs(fp.mulq(prod, mp["mult"], mp["shift"])).max() >= 2**31:
            continue
        for aa, bb in ((a, b), (a, b[:1]), (a, b[:, :1]), (a[:, :1], b)):
            aa, bb = np.ascontiguousarray(aa), np.ascontiguousarray(bb)
            y = np.empty(a.shape, np.int8)
            k.qc_mul_s8(aa, bb, y, ST["qc_mul_params_t"](**mp), 2, i32(*a.shape, 1), bstrides(aa, a.shape),
                        bstrides(bb, a.shape))  # fmt: skip
            np.testing.assert_array_equal(y, fp.mul_reference(aa, bb, mp))
    assert checked >= 30


def test_lut_s8(k):
    rng = np.random.default_rng(7)
    x = s8(rng, 1000)
    table = fp.lut_table(np.tanh, 0.05, 3, 1 / 127, 0)
    y = np.empty_like(x)
    k.qc_lut_s8(x, y, x.size, table)
    np.testing.assert_array_equal(y, table[x.astype(np.int32) + 128])
    k.qc_lut_s8(x, x, x.size, table)  # in place
    np.testing.assert_array_equal(x, y)


def test_requant_s8(k):
    rng = np.random.default_rng(8)
    x = s8(rng, 777)
    for real, zi, zo, qmin, qmax in ((0.7, 5, -9, -128, 127), (3.1, -20, 0, 0, 127), (0.01, 0, 100, -128, 127),
                                     (1.0, 10, 10, -128, 127)):  # fmt: skip
        mult, shift = fp.quantize_multiplier(real)
        y = np.empty_like(x)
        k.qc_requant_s8(x, y, x.size, zi, zo, mult, shift, qmin, qmax)
        np.testing.assert_array_equal(y, fp.requantize(x.astype(np.int64) - zi, mult, shift, zo, qmin, qmax))
        z = x.copy()
        k.qc_requant_s8(z, z, z.size, zi, zo, mult, shift, qmin, qmax)  # in place
        np.testing.assert_array_equal(z, y)
    y = np.zeros_like(x)
    k.qc_requant_s8(x, y, x.size, 3, 4, 0, 1, -128, 127)  # mult 0: copy
    np.testing.assert_array_equal(y, x)
    z = x.copy()
    k.qc_requant_s8(z[5:], z, 700, 3, 4, 0, 1, -128, 127)  # overlapping copy (memmove)
    np.testing.assert_array_equal(z[:700], x[5:705])


# ---- int8 pooling, mean, softmax, resize, quantize ----

# c, h, w, kh, kw, sh, sw, dh, dw, (pt, pl, pb, pr), ceil_mode
POOL_CASES = [
    (3, 7, 7, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 1),
    (2, 8, 6, 2, 2, 2, 2, 1, 1, (0, 0, 0, 0), 0),
    (2, 5, 5, 3, 3, 2, 2, 1, 1, (1, 1, 0, 0), 1),
    (1, 9, 8, 3, 2, 1, 2, 2, 1, (1, 0, 2, 1), 0),
    (2, 6, 6, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 1),
    (1, 4, 4, 4, 4, 1, 1, 1, 1, (0, 0, 0, 0), 0),
    (2, 10, 9, 3, 4, 3, 2, 2, 1, (2, 1, 1, 2), 1),
    (1, 5, 7, 2, 3, 1, 1, 1, 1, (1, 2, 1, 2), 0),
    (2, 5, 150, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 1),  # rows over several 64-output blocks
    (1, 4, 140, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 0),
    (1, 6, 100, 3, 3, 3, 3, 1, 2, (0, 2, 0, 2), 1),
]


def pool_params(case, n=2, count_include_pad=0):
    c, h, w, kh, kw, sh, sw, dh, dw, (pt, pl, pb, pr), ceil = case
    return dict(n=n, c=c, h=h, w=w, oh=out_size(h, kh, sh, dh, pt, pb, ceil),
                ow=out_size(w, kw, sw, dw, pl, pr, ceil), kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw,
                pt=pt, pl=pl, pb=pb, pr=pr, count_include_pad=count_include_pad)  # fmt: skip


def pool_windows(x, p):
    """Tap values, in-bounds mask and the divisor of average pooling per output (oh, ow)."""
    win, valid = windows(x, p["kh"], p["kw"], p["sh"], p["sw"], p["dh"], p["dw"], p["pt"], p["pl"],
                         p["oh"], p["ow"])  # fmt: skip
    if p["count_include_pad"]:  # taps inside the padded input count, beyond its end (ceil) not
        iy, _ = taps(p["oh"], p["sh"], p["kh"], p["dh"], p["pt"], p["h"])
        ix, _ = taps(p["ow"], p["sw"], p["kw"], p["dw"], p["pl"], p["w"])
        cnt = (iy < p["h"] + p["pb"]).sum(1)[:, None] * (ix < p["w"] + p["pr"]).sum(1)[None, :]
    else:
        cnt = valid.sum(axis=(2, 3))
    return win, valid, cnt


@pytest.mark.parametrize("case", POOL_CASES, ids=range(len(POOL_CASES)))
def test_pool_s8(k, case):
    rng = np.random.default_rng(300 + POOL_CASES.index(case))
    p = pool_params(case)
    x = s8(rng, (p["n"], p["c"], p["h"], p["w"]))
    y = np.empty((p["n"], p["c"], p["oh"], p["ow"]), np.int8)
    win, valid, _ = pool_windows(x.astype(np.int64), p)
    mx = np.where(valid, win, -128).max(axis=(4, 5))
    for real, zi, zo in ((0.0, 0, 0), (0.6, 4, -7), (2.5, -3, 10)):
        mult, shift = fp.quantize_multiplier(real)
        k.qc_maxpool_s8(x, y, ST["qc_pool_params_t"](**p), zi, zo, mult, shift)
        np.testing.assert_array_equal(y, mx if mult == 0 else fp.requantize(mx - zi, mult, shift, zo))
    for cip in (0, 1):
        p = pool_params(case, count_include_pad=cip)
        win, valid, cnt = pool_windows(x.astype(np.int64), p)
        s = np.where(valid, win, 0).sum(axis=(4, 5))
        for ratio, zi, zo in ((1.0, 0, 0), (0.37, 9, -5), (3.3, -2, 1)):
            k.qc_avgpool_s8(x, y, ST["qc_pool_params_t"](**p), zi, zo, ratio)
            v = (s - valid.sum(axis=(2, 3)) * zi).astype(np.float32) * np.float32(ratio) / cnt.astype(np.float32)
            np.testing.assert_array_equal(y, fp.quantize_f32(v, 1.0, zo))


@pytest.mark.parametrize("outer,r,inner", [(6, 49, 1), (2, 5, 3), (1, 1, 8), (3, 300, 2)])
def test_mean_s8(k, outer, r, inner):
    rng = np.random.default_rng(outer * r * inner)
    x = s8(rng, (outer, r, inner))
    for ratio, zi, zo in ((1.0, 0, 0), (0.8, -6, 12), (4.0, 20, 0)):
        y = np.empty((outer, inner), np.int8)
        k.qc_mean_s8(x, y, outer, r, inner, zi, zo, ratio)
        v = (x.astype(np.int64).sum(1) - r * zi).astype(np.float32) * np.float32(ratio) / np.float32(r)
        np.testing.assert_array_equal(y, fp.quantize_f32(v, 1.0, zo))


@pytest.mark.parametrize("rows,n", [(1, 1), (4, 10), (2, 256), (2, 257), (3, 1000)])  # stack row up to 256
def test_softmax_s8(k, rows, n):
    rng = np.random.default_rng(rows * n)
    x = s8(rng, (rows, n))
    si, zi, so, zo = 0.08, 5, 1 / 256, -128
    y = np.empty_like(x)
    k.qc_softmax_s8(x, y, rows, n, si, zi, so, zo)
    v = (x.astype(np.int32) - zi).astype(np.float32) * np.float32(si)
    e = np.exp(v - v.max(axis=1, keepdims=True)).astype(np.float32)
    want = fp.quantize_f32(e / e.sum(axis=1, keepdims=True, dtype=np.float32), so, zo)
    # expf and numpy's exp may differ in the last bit, flipping a rounding tie at most.
    assert np.abs(y.astype(np.int32) - want).max() <= 1 and (y != want).mean() < 0.01
    fy = ort_op("Softmax", [v], dict(axis=-1), opset=13)
    assert np.abs(y.astype(np.int32) - fp.quantize_f32(fy, so, zo)).max() <= 1


RESIZE_SIZES = [((4, 5), (8, 7)), ((6, 6), (4, 9)), ((5, 3), (1, 6)), ((4, 4), (6, 6)), ((3, 7), (3, 7))]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def src_coords(out: int, inp: int, mode: str) -> np.ndarray:
    """onnxruntime's get_original_coordinate in float32, scale = out / in."""
    o, f = np.arange(out, dtype=np.float32), np.float32
    scale, half = f(out) / f(inp), f(0.5)
    if mode == "half_pixel" or (mode == "pytorch_half_pixel" and out > 1):
        return (o + half) / scale - half
    if mode == "align_corners":
        return o * f(inp - 1) / f(out - 1) if out > 1 else np.zeros(out, np.float32)
    if mode == "asymmetric":
        return o / scale
    return np.zeros(out, np.float32)  # pytorch_half_pixel with one output


def nearest_table(out, inp, ctm, nm) -> np.ndarray:
    x = src_coords(out, inp, ctm)
    fl = np.floor(x)
    r = {"round_prefer_floor": np.where(x == fl + 0.5, fl, np.floor(x + 0.5)),
         "round_prefer_ceil": np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)),
         "floor": fl, "ceil": np.ceil(x)}[nm]  # fmt: skip
    return np.clip(r, 0, inp - 1).astype(np.int32)


def linear_table(out, inp, ctm):
    """First and second source index and the second's weight, as onnxruntime's bilinear."""
    x = np.clip(src_coords(out, inp, ctm), 0, np.float32(inp - 1))
    i0 = np.minimum(x.astype(np.int32), inp - 1)
    return i0, np.minimum(i0 + 1, inp - 1).astype(np.int32), (x - i0.astype(np.float32)).astype(np.float32)


def ort_resize(x, oh, ow, **attrs):
    sizes = np.array([*x.shape[:2], oh, ow], np.int64)
    return ort_op("Resize", [x, None, None, sizes], attrs)


@pytest.mark.parametrize("size", RESIZE_SIZES, ids=range(len(RESIZE_SIZES)))
@pytest.mark.parametrize("ctm", ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"])
def test_resize(k, size, ctm):
    """Nearest (every nearest_mode) and bilinear with index/weight tables, float and int8."""
    rng = np.random.default_rng(400 + RESIZE_SIZES.index(size))
    (h, w), (oh, ow) = size
    x = f32(rng, (2, 3, h, w))
    q = s8(rng, (2, 3, h, w))
    si, zi, so, zo = 0.05, -7, 0.04, 3
    deq = (q.astype(np.float32) - np.float32(zi)) * np.float32(si)
    mult, shift = fp.quantize_multiplier(si / so)
    for nm in NEAREST_MODES:
        hi, wi = nearest_table(oh, h, ctm, nm), nearest_table(ow, w, ctm, nm)
        y = np.empty((2, 3, oh, ow), np.float32)
        k.qc_resize_nearest_f32(x, y, 6, h, w, oh, ow, hi, wi)
        want = ort_resize(x, oh, ow, mode="nearest", coordinate_transformation_mode=ctm, nearest_mode=nm)
        np.testing.assert_array_equal(y, want)
        yq = np.empty((2, 3, oh, ow), np.int8)
        for m, s in ((0, 1), (mult, shift)):
            k.qc_resize_nearest_s8(q, yq, 6, h, w, oh, ow, hi, wi, zi, zo, m, s)
            g = q[:, :, hi][:, :, :, wi]
            np.testing.assert_array_equal(yq, g if m == 0 else fp.requantize(g.astype(np.int64) - zi, m, s, zo))
    (h0, h1, hf), (w0, w1, wf) = linear_table(oh, h, ctm), linear_table(ow, w, ctm)
    y = np.empty((2, 3, oh, ow), np.float32)
    k.qc_resize_linear_f32(x, y, 6, h, w, oh, ow, h0, h1, hf, w0, w1, wf)
    want = ort_resize(x, oh, ow, mode="linear", coordinate_transformation_mode=ctm)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    yq = np.empty((2, 3, oh, ow), np.int8)
    k.qc_resize_linear_s8(q, yq, 6, h, w, oh, ow, h0, h1, hf, w0, w1, wf, si, zi, so, zo)
    one, fy, fx = np.float32(1), hf[:, None], wf[None, :]
    r0, r1 = deq[:, :, h0], deq[:, :, h1]
    v = (one - fy) * ((one - fx) * r0[..., w0] + fx * r0[..., w1]) + fy * ((one - fx) * r1[..., w0] + fx * r1[..., w1])
    np.testing.assert_array_equal(yq, fp.quantize_f32(v, so, zo))
    fy = ort_resize(deq, oh, ow, mode="linear", coordinate_transformation_mode=ctm)
    assert np.abs(yq.astype(np.int32) - fp.quantize_f32(fy, so, zo)).max() <= 1


def test_quantize_dequantize(k):
    rng = np.random.default_rng(9)
    scale = np.float32(0.05)
    ties = (np.arange(-300, 300, dtype=np.float32) + np.float32(0.5)) * scale
    special = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30])
    x = np.concatenate([f32(rng, 1000, -8, 8), ties, special])
    for zp, qmin, qmax in ((0, -128, 127), (-20, -128, 127), (5, 5, 127), (0, -127, 127)):
        y = np.empty(x.size, np.int8)
        k.qc_quantize_f32_s8(x, y, x.size, scale, zp, qmin, qmax)
        np.testing.assert_array_equal(y, fp.quantize_f32(x, scale, zp, qmin, qmax))
        if qmin == -128:
            fin = x[np.isfinite(x)]
            want = ort_op("QuantizeLinear", [fin, scale, np.int8(zp)], out_type=TensorProto.INT8)
            np.testing.assert_array_equal(y[np.isfinite(x)], want)
    q = s8(rng, 500)
    d = np.empty(500, np.float32)
    k.qc_dequantize_s8_f32(q, d, 500, scale, -9)
    np.testing.assert_array_equal(d, (q.astype(np.float32) + np.float32(9)) * scale)
    np.testing.assert_array_equal(d, ort_op("DequantizeLinear", [q, scale, np.int8(-9)]))


# ---- any element type ----


def view_of(base: np.ndarray, view: np.ndarray):
    """Element offset of `view` in `base` and its element strides."""
    off = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
    return off, i32(*[s // base.itemsize for s in view.strides], 1)


def random_view(rng, shape, make):
    """A view with `shape` of a new array `make(base_shape)`: a strided slice per axis (steps of
    +-1, +-2, random starts), transposed by a random permutation. Returns (base, view)."""
    perm = rng.permutation(len(shape))
    pre = [shape[j] for j in np.argsort(perm)]  # the slice's shape before transposing
    base = make([2 * n + 1 for n in pre])
    sl = []
    for n, size in zip(pre, base.shape):
        step = int(rng.choice([1, 2, -1, -2])) if n > 1 else 1
        span = (n - 1) * abs(step) + 1
        start = int(rng.integers(0, size - span + 1))
        stop = start + span if step > 0 else (start - 1 if start else None)
        sl.append(slice(start, stop, step) if step > 0 else slice(start + span - 1, stop, step))
    v = base[(*sl, ...)].transpose(perm)
    assert v.shape == tuple(shape)
    return base, v


@pytest.mark.parametrize("ndim", range(0, 7))
@pytest.mark.parametrize("dtype", [np.int8, np.float16, np.float32, np.int64])
def test_strided_copy(k, ndim, dtype):
    """Transposes, negative and >1 steps on both sides, ndim 0..6, 1/2/4/8-byte elements."""
    rng = np.random.default_rng(ndim * 10 + np.dtype(dtype).itemsize)
    for trial in range(4):
        shape = tuple(int(v) for v in rng.integers(1, 5 if ndim > 3 else 7, ndim))
        if trial == 0:  # contiguous last dim in both (row memcpy)
            src = rng.integers(-100, 100, [d + 2 for d in shape]).astype(dtype)
            dst = np.full([d + 1 for d in shape], 111, dtype)
            sv, dv = src[(*(slice(1, 1 + d) for d in shape), ...)], dst[(*(slice(0, d) for d in shape), ...)]
        else:
            src, sv = random_view(rng, shape, lambda s: rng.integers(-100, 100, s).astype(dtype))
            dst, dv = random_view(rng, shape, lambda s: np.full(s, 111, dtype))
        (so, ss), (do, ds) = view_of(src, sv), view_of(dst, dv)
        k.qc_strided_copy(src, so, ss, dst, do, ds, ndim, i32(*shape, 1), np.dtype(dtype).itemsize)
        np.testing.assert_array_equal(dv, sv)
        np.copyto(dv, 111)  # nothing else written (src values are within +-100)
        assert (dst == 111).all()


def test_strided_requant_s8(k):
    rng = np.random.default_rng(11)
    for ndim in range(0, 7):
        shape = tuple(int(v) for v in rng.integers(1, 5, ndim))
        src, sv = random_view(rng, shape, lambda s: s8(rng, s, -100, 100))
        _, ss = view_of(src, sv)
        for real, zi, zo in ((0.0, 0, 0), (0.45, 3, -5), (1.7, -10, 2)):
            mult, shift = fp.quantize_multiplier(real)
            dst, dv = random_view(rng, shape, lambda s: np.full(s, 111, np.int8))
            do, ds = view_of(dst, dv)
            first = sv.__array_interface__["data"][0]  # the view's first element: source offset 0
            k.qc_strided_requant_s8(first, ss, dst, do, ds, ndim, i32(*shape, 1), zi, zo, mult, shift)
            want = sv if mult == 0 else fp.requantize(sv.astype(np.int64) - zi, mult, shift, zo)
            np.testing.assert_array_equal(dv, want)
            np.copyto(dv, 111)
            assert (dst == 111).all()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.float32, np.float64])
def test_fill_gather(k, dtype):
    rng = np.random.default_rng(np.dtype(dtype).itemsize)
    size = np.dtype(dtype).itemsize
    for n in (0, 1, 2, 7, 100):
        buf = np.full(n + 3, 9, dtype)
        k.qc_fill(buf, n, np.array([-3], dtype), size)
        np.testing.assert_array_equal(buf, np.r_[np.full(n, -3), [9, 9, 9]].astype(dtype))
    for outer, axis_len, inner, idx in ((1, 5, 1, [4, 0, 0, 2]), (3, 4, 5, [1, 3]),
                                        (2, 7, 3, [6, 5, 4, 3, 2, 1, 0, 0])):  # fmt: skip
        src = rng.integers(-100, 100, (outer, axis_len, inner)).astype(dtype)
        idx = i32(*idx)
        dst = np.empty((outer, idx.size, inner), dtype)
        k.qc_gather(src, dst, outer, axis_len, inner, idx, idx.size, size)
        np.testing.assert_array_equal(dst, np.take(src, idx, axis=1))


# ---- float32 ----

BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"]


@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=range(len(BCAST_SHAPES)))
def test_binary_f32(k, shapes):
    rng = np.random.default_rng(500 + BCAST_SHAPES.index(shapes))
    for op, name in enumerate(BINARY):
        sa, sb = shapes
        if name == "PRelu":  # the slope broadcasts to x
            sa = np.broadcast_shapes(sa, sb)
        a = f32(rng, sa, 0.1, 4) if name == "Pow" else f32(rng, sa)
        b = f32(rng, sb, 0.5, 2) * np.where(rng.random(sb) < 0.5, -1, 1) if name == "Div" else f32(rng, sb)
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)  # 0-d results are scalars
        out = np.broadcast_shapes(a.shape, b.shape)
        y = np.empty(out, np.float32)
        k.qc_binary_f32(op, a, b, y, len(out), i32(*out, 1), bstrides(a, out), bstrides(b, out))
        np.testing.assert_allclose(y, ort_op(name, [a, b]), rtol=1e-6, atol=1e-6, err_msg=name)


# comparisons, logic and fmod: enum values after PRELU, numpy models (1.0 / 0.0 results)
LOGIC = {8: np.equal, 9: np.not_equal, 10: np.less, 11: np.less_equal, 12: np.greater, 13: np.greater_equal,
         14: lambda a, b: (a != 0) & (b != 0), 15: lambda a, b: (a != 0) | (b != 0),
         16: lambda a, b: (a != 0) ^ (b != 0), 17: np.fmod}  # fmt: skip


@pytest.mark.parametrize("shapes", BCAST_SHAPES[:6], ids=range(6))
def test_logic_f32(k, shapes):
    rng = np.random.default_rng(700 + BCAST_SHAPES.index(shapes))
    sa, sb = shapes
    a = np.asarray(np.round(f32(rng, sa) * 2) / 2, np.float32)  # ties, zeros and equal values
    b = np.asarray(np.round(f32(rng, sb) * 2) / 2, np.float32)
    out = np.broadcast_shapes(a.shape, b.shape)
    for op, fn in LOGIC.items():
        bb = np.where(b == 0, np.float32(1.5), b).astype(np.float32) if op == 17 else b
        y = np.empty(out, np.float32)
        k.qc_binary_f32(op, a, bb, y, len(out), i32(*out, 1), bstrides(a, out), bstrides(bb, out))
        np.testing.assert_array_equal(y, np.asarray(fn(a, bb), np.float32), err_msg=str(op))


@pytest.mark.parametrize("shapes", BCAST_SHAPES[:6], ids=range(6))
def test_where_f32(k, shapes):
    rng = np.random.default_rng(800 + BCAST_SHAPES.index(shapes))
    sa, sb = shapes
    c = np.asarray(rng.random(sa) < 0.5, np.float32)
    a, b = np.asarray(f32(rng, sb), np.float32), np.asarray(f32(rng, sa), np.float32)
    out = np.broadcast_shapes(c.shape, a.shape, b.shape)
    y = np.empty(out, np.float32)
    k.qc_where_f32(c, a, b, y, len(out), i32(*out, 1), bstrides(c, out), bstrides(a, out), bstrides(b, out))
    np.testing.assert_array_equal(y, np.where(c != 0, a, b))


def test_gather_idx_and_argmax(k):
    rng = np.random.default_rng(9)
    src = f32(rng, (3, 7, 5))
    idx = np.array([0, 6, -1, -7, 3, 9, -20], np.float32)  # negative from the end; out of range clamped
    dst = np.empty((3, idx.size, 5), np.float32)
    k.qc_gather_idx(src, dst, 3, 7, 5, idx, idx.size, 4)
    want = np.take(src, np.clip(np.where(idx < 0, idx + 7, idx), 0, 6).astype(np.int64), axis=1)
    np.testing.assert_array_equal(dst, want)
    x = np.asarray(np.round(f32(rng, (4, 9, 6)) * 2), np.float32)  # ties: the first index wins
    for code, fn in ((7, np.argmax), (8, np.argmin)):
        y = np.empty((4, 6), np.float32)
        k.qc_reduce_f32(code, x, y, 4, 9, 6)
        np.testing.assert_array_equal(y, fn(x, axis=1).astype(np.float32))
        # select_last_index (QC_R_ARGMAX_LAST / _ARGMIN_LAST): the last of the tied extremes
        k.qc_reduce_f32(code + 4, x, y, 4, 9, 6)
        np.testing.assert_array_equal(y, (8 - fn(x[:, ::-1], axis=1)).astype(np.float32))


UNARY = [  # enum order: name, ONNX op (None: numpy float64 model), attrs, input range, alpha, beta
    ("RELU", "Relu", {}, (-3, 3), 0, 0), ("SIGMOID", "Sigmoid", {}, (-12, 12), 0, 0),
    ("TANH", "Tanh", {}, (-6, 6), 0, 0), ("EXP", "Exp", {}, (-10, 10), 0, 0),
    ("LOG", "Log", {}, (1e-3, 50), 0, 0), ("SQRT", "Sqrt", {}, (0, 50), 0, 0),
    ("NEG", "Neg", {}, (-3, 3), 0, 0), ("ABS", "Abs", {}, (-3, 3), 0, 0),
    ("ERF", "Erf", {}, (-4, 4), 0, 0), ("LEAKY_RELU", "LeakyRelu", {"alpha": 0.07}, (-3, 3), 0.07, 0),
    ("HARD_SIGMOID", "HardSigmoid", {"alpha": 0.25, "beta": 0.4}, (-5, 5), 0.25, 0.4),
    ("HARD_SWISH", "HardSwish", {}, (-5, 5), 0, 0), ("CLIP", "Clip", "min-max", (-3, 3), -0.5, 1.25),
    ("GELU", "Gelu", {}, (-5, 5), 0, 0), ("GELU_TANH", "Gelu", {"approximate": "tanh"}, (-5, 5), 0, 0),
    ("MISH", "Mish", {}, (-8, 8), 0, 0), ("SILU", None, {}, (-8, 8), 0, 0),
    ("RECIPROCAL", "Reciprocal", {}, (0.1, 5), 0, 0), ("SOFTPLUS", "Softplus", {}, (-20, 20), 0, 0),
    ("FLOOR", "Floor", {}, (-3, 3), 0, 0), ("CEIL", "Ceil", {}, (-3, 3), 0, 0),
    ("IDENTITY", "Identity", {}, (-3, 3), 0, 0), ("ELU", "Elu", {"alpha": 0.8}, (-5, 3), 0.8, 0),
    ("SELU", "Selu", {"alpha": 1.67, "gamma": 1.05}, (-5, 3), 1.67, 1.05),
    ("SIN", "Sin", {}, (-7, 7), 0, 0), ("COS", "Cos", {}, (-7, 7), 0, 0),
    ("ROUND", "Round", {}, (-4, 4), 0, 0), ("SIGN", "Sign", {}, (-3, 3), 0, 0),
    ("NOT", None, {}, (-2, 2), 0, 0), ("TRUNC", None, {}, (-4, 4), 0, 0),
    ("SOFTSIGN", "Softsign", {}, (-6, 6), 0, 0),
    ("THRESHOLDED_RELU", "ThresholdedRelu", {"alpha": 0.3}, (-3, 3), 0.3, 0),
    ("CELU", "Celu", {"alpha": 0.7}, (-5, 3), 0.7, 0), ("TAN", "Tan", {}, (-1.5, 1.5), 0, 0),
    ("ASIN", "Asin", {}, (-1, 1), 0, 0), ("ACOS", "Acos", {}, (-1, 1), 0, 0), ("ATAN", "Atan", {}, (-6, 6), 0, 0),
    ("SINH", "Sinh", {}, (-5, 5), 0, 0), ("COSH", "Cosh", {}, (-5, 5), 0, 0), ("ASINH", "Asinh", {}, (-6, 6), 0, 0),
    ("ACOSH", "Acosh", {}, (1, 6), 0, 0), ("ATANH", "Atanh", {}, (-0.99, 0.99), 0, 0),
    ("SHRINK", "Shrink", {"lambd": 0.7, "bias": 0.3}, (-3, 3), 0.7, 0.3),
    ("ISNAN", None, {}, (-3, 3), 0, 0), ("ISINF", None, {}, (-3, 3), 1, 1),  # boolean: test_isnan_isinf_f32
]
EXACT_UNARY = ("RELU", "NEG", "ABS", "LEAKY_RELU", "CLIP", "FLOOR", "CEIL", "IDENTITY", "ROUND", "SIGN", "NOT",
               "TRUNC", "SHRINK", "ISNAN", "ISINF")  # fmt: skip
NUMPY_UNARY = {  # float semantics of ops without a float ONNX form
    "SILU": lambda x: (x / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32),
    "NOT": lambda x: (x == 0).astype(np.float32),
    "TRUNC": lambda x: np.trunc(x).astype(np.float32),
    "ISNAN": lambda x: np.isnan(x).astype(np.float32),
    "ISINF": lambda x: np.isinf(x).astype(np.float32),
}


def test_unary_enum_order():
    text = _strip_comments((INC / "qc_kernels.h").read_text())
    body = re.search(r"enum\s*\{\s*(QC_U_RELU[^}]*)\}", text).group(1)
    names = [e.split("=")[0].strip().removeprefix("QC_U_") for e in body.split(",") if e.strip()]
    assert names == [u[0] for u in UNARY]


@pytest.mark.parametrize("op", range(len(UNARY)), ids=[u[0] for u in UNARY])
def test_unary_f32(k, op):
    name, onnx_op, attrs, (lo, hi), alpha, beta = UNARY[op]
    rng = np.random.default_rng(600 + op)
    x = f32(rng, 997, lo, hi)
    if name in ("ROUND", "SIGN", "FLOOR", "CEIL", "RELU", "NOT", "TRUNC", "SHRINK"):
        x[:16] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0, -0.0, 3, -3, 0.49999997, 1e-30, -1e-30, 2.5000002, 7, -7]
    if name in ("SOFTPLUS", "MISH", "SILU", "SIGMOID"):
        x[:6] = [-100, 100, -87, 80, 0, -0.0]  # overflow of the naive formulas
    y = np.empty_like(x)
    k.qc_unary_f32(op, x, y, x.size, alpha, beta)
    if onnx_op is None:
        want = NUMPY_UNARY[name](x)
    elif attrs == "min-max":
        want = ort_op(onnx_op, [x, np.float32(alpha), np.float32(beta)], opset=13)
    else:
        want = ort_op(onnx_op, [x], attrs, opset=20)
    tol = 1e-6 if name in EXACT_UNARY else 2e-6
    np.testing.assert_allclose(y, want, rtol=tol * 5, atol=tol, err_msg=name)
    z = x.copy()
    k.qc_unary_f32(op, z, z, z.size, alpha, beta)  # in place
    np.testing.assert_array_equal(z, y)


def test_isnan_isinf_f32(k):
    """IsNaN and IsInf (each detect_positive / detect_negative) give onnxruntime's booleans as
    1.0f / 0.0f."""
    x = np.float32([0, -0.0, 1, -1, np.inf, -np.inf, np.nan, -np.nan, 3.4e38, -3.4e38, 1e-45, -1e-45])
    codes = {n: i for i, (n, *_) in enumerate(UNARY)}
    y = np.empty_like(x)
    k.qc_unary_f32(codes["ISNAN"], x, y, x.size, 0.0, 0.0)
    np.testing.assert_array_equal(y, ort_op("IsNaN", [x], out_type=TensorProto.BOOL).astype(np.float32))
    for pos, neg in ((1, 1), (1, 0), (0, 1), (0, 0)):
        k.qc_unary_f32(codes["ISINF"], x, y, x.size, float(pos), float(neg))
        want = ort_op("IsInf", [x], dict(detect_positive=pos, detect_negative=neg), out_type=TensorProto.BOOL)
        np.testing.assert_array_equal(y, want.astype(np.float32), err_msg=f"{pos}{neg}")


@pytest.mark.parametrize("outer,r,inner", [(2, 9, 3), (1, 40, 1), (3, 5, 2), (4, 1, 3)])
def test_hardmax_f32(k, outer, r, inner):
    """Many ties (the first maximum wins), rows of -inf, copying and in place, against
    onnxruntime (axis 1 of [outer, r, inner], opset 13)."""
    rng = np.random.default_rng(outer * r * inner)
    x = rng.integers(-3, 3, (outer, r, inner)).astype(np.float32)
    x[0, :, 0] = -np.inf
    want = ort_op("Hardmax", [x], dict(axis=1), opset=13)
    y = np.full_like(x, 7.0)
    k.qc_hardmax_f32(x, y, outer, r, inner)
    np.testing.assert_array_equal(y, want)
    k.qc_hardmax_f32(x, x, outer, r, inner)
    np.testing.assert_array_equal(x, want)


# lo, hi, act, alpha, beta
EPILOGUES = [(-INF, INF, 0, 0, 0), (0, INF, 0, 0, 0), (0, 6, 0, 0, 0), (-INF, INF, 1, 0.1, 0),
             (-INF, INF, 2, 0.2, 0.5), (-INF, INF, 3, 0, 0), (-1, INF, 4, 0, 0), (-INF, INF, 5, 0, 0),
             (-INF, 2, 6, 0, 0)]  # fmt: skip


def epilogue_graph(main_node, feeds, epi):
    """main_node (output "t") then Clip(lo, hi) then the activation, in onnxruntime."""
    lo, hi, act, alpha, beta = epi
    nodes = [main_node, helper.make_node("Clip", ["t", "lo", "hi"], ["c"]), *act_nodes(act, alpha, beta, "c", "y")]
    return ort_run(nodes, feeds, dict(lo=np.float32(lo), hi=np.float32(hi)))


@pytest.mark.parametrize("case", CONV_CASES, ids=range(len(CONV_CASES)))
def test_conv_f32(k, case):
    rng = np.random.default_rng(700 + CONV_CASES.index(case))
    p = conv_params(case)
    x = f32(rng, (p["n"], p["cin"], p["h"], p["w"]))
    w = f32(rng, (p["cout"], p["cin"] // p["group"], p["kh"], p["kw"]), -1, 1)
    b = f32(rng, p["cout"])
    cp = ST["qc_conv_params_t"](**p)
    for i, epi in enumerate(EPILOGUES):
        bias = None if i % 3 == 1 else b
        ins = ["x", "w"] + (["b"] if bias is not None else [])
        node = helper.make_node("Conv", ins, ["t"], **conv_attrs(p, case[-2]))
        feeds = dict(x=x, w=w, **({"b": bias} if bias is not None else {}))
        y = np.empty((p["n"], p["cout"], p["oh"], p["ow"]), np.float32)
        k.qc_conv_f32(x, w, bias, cp, *epi, y)
        np.testing.assert_allclose(y, epilogue_graph(node, feeds, epi), rtol=1e-5, atol=1e-5, err_msg=str(epi))


@pytest.mark.parametrize("case", CT_CASES, ids=range(len(CT_CASES)))
def test_convtranspose_f32(k, case):
    rng = np.random.default_rng(800 + CT_CASES.index(case))
    p = convt_params(case)
    x = f32(rng, (p["n"], p["cin"], p["h"], p["w"]))
    w = f32(rng, (p["cin"], p["cout"] // p["group"], p["kh"], p["kw"]), -1, 1)
    b = f32(rng, p["cout"])
    cp = ST["qc_conv_params_t"](**p)
    for i, epi in enumerate(EPILOGUES[:5]):
        bias = None if i % 2 else b
        ins = ["x", "w"] + (["b"] if bias is not None else [])
        node = helper.make_node("ConvTranspose", ins, ["t"], **convt_attrs(case))
        feeds = dict(x=x, w=w, **({"b": bias} if bias is not None else {}))
        y = np.full((p["n"], p["cout"], p["oh"], p["ow"]), np.nan, np.float32)
        k.qc_convtranspose_f32(x, w, bias, cp, *epi, y)
        np.testing.assert_allclose(y, epilogue_graph(node, feeds, epi), rtol=1e-5, atol=1e-5, err_msg=str(epi))


@pytest.mark.parametrize("batch,M,K,N,bcast", MATMUL_CASES)
def test_matmul_f32(k, batch, M, K, N, bcast):
    """Batched MatMul; one operand shared by every batch (batch stride 0)."""
    rng = np.random.default_rng(900 + M * K * N + batch)
    a = f32(rng, (M, K) if bcast == "a" else (batch, M, K))
    b = f32(rng, (K, N) if bcast == "b" else (batch, K, N))
    ab, bb = (0 if bcast == "a" else M * K), (0 if bcast == "b" else K * N)
    y = np.empty((batch, M, N), np.float32)
    k.qc_matmul_f32(a, b, y, batch, M, K, N, ab, K, 1, bb, N, 1, 1.0, None, 0, 0, 0.0, -INF, INF, 0, 0, 0)
    np.testing.assert_allclose(y, ort_op("MatMul", [a, b]).reshape(batch, M, N), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (3, 17, 5), (17, 33, 20), (5, 64, 1)])
def test_gemm_f32(k, M, K, N):
    """Gemm with transA/transB (through the strides), alpha, beta, C broadcast and epilogues."""
    rng = np.random.default_rng(1000 + M * K * N)
    cs = [None, (N,), (M, 1), (M, N), (1,)]
    for i, (ta, tb) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1), (1, 1)]):
        a, b = f32(rng, (K, M) if ta else (M, K)), f32(rng, (N, K) if tb else (K, N))
        am, ak = (1, M) if ta else (K, 1)
        bk, bn = (1, K) if tb else (N, 1)
        c = None if cs[i] is None else f32(rng, cs[i])
        cm, cn = (0, 0) if c is None else (int(v) for v in bstrides(c, (M, N))[:2])
        alpha, beta = (1.0, 1.0) if i < 2 else (0.5, -2.0)
        epi = EPILOGUES[(i * 2) % len(EPILOGUES)]
        ins = ["a", "b"] + (["cc"] if c is not None else [])
        node = helper.make_node("Gemm", ins, ["t"], alpha=alpha, beta=beta, transA=ta, transB=tb)
        want = epilogue_graph(node, dict(a=a, b=b, **({"cc": c} if c is not None else {})), epi)
        y = np.empty((M, N), np.float32)
        k.qc_matmul_f32(a, b, y, 1, M, K, N, 0, am, ak, 0, bk, bn, alpha, c, cm, cn, beta, *epi)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5, err_msg=str((ta, tb, cs[i], epi)))


@pytest.mark.parametrize("case", POOL_CASES, ids=range(len(POOL_CASES)))
def test_pool_f32(k, case):
    """MaxPool and AveragePool (count_include_pad 0/1) with ceil_mode, dilation, asymmetric pads."""
    rng = np.random.default_rng(1100 + POOL_CASES.index(case))
    c, h, w, kh, kw, sh, sw, dh, dw, pads, ceil = case
    attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw], pads=list(pads), ceil_mode=ceil)
    x = f32(rng, (2, c, h, w))
    want = ort_op("MaxPool", [x], attrs)
    p = pool_params(case)
    assert want.shape == (2, c, p["oh"], p["ow"])
    y = np.empty(want.shape, np.float32)
    k.qc_maxpool_f32(x, y, ST["qc_pool_params_t"](**p))
    np.testing.assert_array_equal(y, want)
    for cip in (0, 1):
        p = pool_params(case, count_include_pad=cip)
        want = ort_op("AveragePool", [x], dict(attrs, count_include_pad=cip))
        k.qc_avgpool_f32(x, y, ST["qc_pool_params_t"](**p))
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6, err_msg=f"count_include_pad={cip}")


@pytest.mark.parametrize("rows,n", [(1, 1), (4, 10), (3, 1000)])
def test_softmax_f32(k, rows, n):
    rng = np.random.default_rng(rows * n + 1)
    x = f32(rng, (rows, n), -30, 30)
    for log, op in ((0, "Softmax"), (1, "LogSoftmax")):
        y = np.empty_like(x)
        k.qc_softmax_f32(x, y, rows, n, log)
        np.testing.assert_allclose(y, ort_op(op, [x], dict(axis=-1), opset=13), rtol=1e-5, atol=1e-6, err_msg=op)
        z = x.copy()
        k.qc_softmax_f32(z, z, rows, n, log)  # in place
        np.testing.assert_array_equal(z, y)


REDUCE = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2"]


@pytest.mark.parametrize("outer,r,inner", [(2, 5, 3), (1, 7, 1), (4, 1, 6), (3, 64, 2)])
def test_reduce_f32(k, outer, r, inner):
    rng = np.random.default_rng(outer * r * inner + 3)
    for op, name in enumerate(REDUCE):
        x = f32(rng, (outer, r, inner), 0.8, 1.2) if name == "ReduceProd" else f32(rng, (outer, r, inner))
        y = np.empty((outer, inner), np.float32)
        k.qc_reduce_f32(op, x, y, outer, r, inner)
        want = ort_op(name, [x, np.array([1], np.int64)], dict(keepdims=0), opset=18)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("outer,r,inner", [(2, 5, 3), (1, 7, 1), (3, 64, 2)])
def test_reduce_l1_logsumexp_lpnorm_f32(k, outer, r, inner):
    """QC_R_L1 (9), QC_R_LOGSUMEXP (10; qc_expf/qc_logf, no libm) and qc_lpnorm_f32 p = 1, 2
    against onnxruntime, large values included (LogSumExp's max shift), a zero vector for
    LpNormalization (0, as onnxruntime)."""
    rng = np.random.default_rng(outer * r * inner + 7)
    x = f32(rng, (outer, r, inner), -4, 4)
    x[0, 0, 0] = 80.0  # e^80 overflows float: the max shift keeps it finite
    for code, name in ((9, "ReduceL1"), (10, "ReduceLogSumExp")):
        y = np.empty((outer, inner), np.float32)
        k.qc_reduce_f32(code, x, y, outer, r, inner)
        want = ort_op(name, [x, np.array([1], np.int64)], dict(keepdims=0), opset=18)
        np.testing.assert_allclose(y, want, rtol=2e-6, atol=2e-6, err_msg=name)
    x[-1, :, -1] = 0.0
    for p in (1, 2):
        y = np.empty_like(x)
        k.qc_lpnorm_f32(x, y, outer, r, inner, p)
        want = ort_op("LpNormalization", [x], dict(axis=1, p=p), opset=17)
        np.testing.assert_allclose(y, want, rtol=2e-6, atol=1e-7, err_msg=f"p={p}")
        assert not np.any(y[-1, :, -1])


@pytest.mark.parametrize("outer,r,inner", [(2, 9, 3), (1, 40, 1), (3, 5, 2)])
def test_topk_and_cumsum_f32(k, outer, r, inner):
    """TopK (largest and smallest, many ties: onnxruntime's order puts the lower index first) and
    CumSum (exclusive and reverse) against onnxruntime."""
    rng = np.random.default_rng(outer * r * inner + 11)
    x = rng.integers(-3, 4, (outer, r, inner)).astype(np.float32)
    for kk in sorted({1, 3, r}):
        for largest in (1, 0):
            vals = np.empty((outer, kk, inner), np.float32)
            idx = np.empty((outer, kk, inner), np.float32)
            k.qc_topk_f32(x, vals, idx, outer, r, inner, kk, largest)
            feeds = {"x": x, "k": np.array([kk], np.int64)}
            wv = ort_run([helper.make_node("TopK", ["x", "k"], ["y", "i"], axis=1, largest=largest)], feeds, opset=17)
            wi = ort_run([helper.make_node("TopK", ["x", "k"], ["v", "y"], axis=1, largest=largest)], feeds, opset=17,
                         out_type=TensorProto.INT64)  # fmt: skip
            np.testing.assert_array_equal(vals, wv)
            np.testing.assert_array_equal(idx, wi.astype(np.float32))
            k.qc_topk_f32(x, vals, None, outer, r, inner, kk, largest)  # values only
            np.testing.assert_array_equal(vals, wv)
    x = f32(rng, (outer, r, inner))
    for exclusive in (0, 1):
        for reverse in (0, 1):
            y = np.empty_like(x)
            k.qc_cumsum_f32(x, y, outer, r, inner, exclusive, reverse)
            want = ort_op("CumSum", [x, np.array(1, np.int64)], dict(exclusive=exclusive, reverse=reverse), opset=17)
            np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_f32(k, reduction):
    """ScatterND (slices of the two last axes, negative indices, a repeated slice when reducing)
    and ScatterElements (axis 1) against onnxruntime, both copying and in place."""
    rng = np.random.default_rng(len(reduction))
    data = f32(rng, (3, 4, 5, 6))
    code = ["none", "add", "mul", "max", "min"].index(reduction)
    nd = np.array([[2, 1], [0, -4], [1, 3]] + ([[2, 1]] if reduction != "none" else []), np.int64)
    ups = f32(rng, (len(nd), 5, 6))
    ups[0, 0, :3] = data[2, 1, 0, :3]  # ties for max / min
    el = np.argsort(rng.random((3, 4, 5, 6)), axis=1)[:, :3].astype(np.int64)  # distinct along the axis
    if reduction != "none":
        el = rng.integers(-4, 4, (3, 3, 5, 6)).astype(np.int64)  # repeats combine
    uel = f32(rng, el.shape)
    st = np.array(bstrides(data, data.shape)[:4], np.int64)
    crd = list(np.indices(el.shape))
    crd[1] = np.where(el < 0, el + 4, el)
    cases = [("ScatterND", nd, ups, (np.where(nd < 0, nd + data.shape[:2], nd) @ st[:2]), 30, {}),
             ("ScatterElements", el, uel, np.ravel_multi_index(crd, data.shape).reshape(-1), 1, {"axis": 1})]
    for op, idx, upd, offs, inner, attrs in cases:
        want = ort_op(op, [data, idx, upd], dict(reduction=reduction, **attrs), opset=18)
        offs = i32(*offs)
        y = np.empty_like(data)
        k.qc_scatter_f32(data, upd, y, data.size, offs, offs.size, inner, code)
        np.testing.assert_array_equal(y, want, err_msg=op)
        z = data.copy()
        k.qc_scatter_f32(z, upd, z, z.size, offs, offs.size, inner, code)  # in place
        np.testing.assert_array_equal(z, want, err_msg=op)


@pytest.mark.parametrize("shape", [(2, 4, 5), (3, 1), (1, 6, 3)])
def test_trilu_f32(k, shape):
    """Upper and lower triangles for k inside and beyond the matrix; NaNs outside the kept
    triangle become 0, as in onnxruntime."""
    rng = np.random.default_rng(sum(shape))
    x = f32(rng, shape)
    x.reshape(-1)[::7] = np.nan
    rows, cols = shape[-2:]
    for upper in (1, 0):
        for kk in (-rows - cols, -2, -1, 0, 1, 3, rows + cols):
            want = ort_op("Trilu", [x, np.array(kk, np.int64)], dict(upper=upper), opset=14)
            y = np.empty_like(x)
            k.qc_trilu_f32(x, y, x.size // (rows * cols), rows, cols, kk, upper)
            np.testing.assert_array_equal(y, want, err_msg=f"upper={upper} k={kk}")
            z = x.copy()
            k.qc_trilu_f32(z, z, x.size // (rows * cols), rows, cols, kk, upper)  # in place
            np.testing.assert_array_equal(z, want)


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_gridsample_f32(k, mode, padding):
    """Bit for bit with onnxruntime (opset 20 names; opset 16's bilinear/bicubic are the same
    kernel): positions inside, on pixel centres and half-way between them (rounding ties for
    nearest), and up to three image widths outside (reflection folds more than once)."""
    rng = np.random.default_rng(len(mode) * 10 + len(padding))
    n, c, h, w, oh, ow = 2, 3, 5, 7, 6, 9
    x = f32(rng, (n, c, h, w))
    grid = f32(rng, (n, oh, ow, 2), -1.2, 1.2)
    grid[0, :, :, 0] = np.linspace(-1, 1, 2 * w + 1)[None, : ow]  # half-pixel steps
    grid[0, :, :, 1] = np.linspace(-1, 1, 2 * h + 1)[: oh, None]
    grid[1, 0] = f32(rng, (ow, 2), -7, 7)
    for align in (0, 1):
        want = ort_op("GridSample", [x, grid], dict(mode=mode, padding_mode=padding, align_corners=align), opset=20)
        y = np.full((n, c, oh, ow), np.nan, np.float32)
        k.qc_gridsample_f32(x, grid, y, n, c, h, w, oh, ow, ["linear", "nearest", "cubic"].index(mode),
                            ["zeros", "border", "reflection"].index(padding), align)  # fmt: skip
        np.testing.assert_array_equal(y, want, err_msg=f"align_corners={align}")


@pytest.mark.parametrize("rows,n", [(3, 7), (2, 64), (1, 1000), (4, 1)])
def test_layernorm_f32(k, rows, n):
    rng = np.random.default_rng(rows * n + 5)
    x = f32(rng, (rows, n)) + np.float32(5)  # a mean far from 0: two passes
    scale, bias = f32(rng, n), f32(rng, n)
    for sc, bi in ((scale, bias), (None, None), (scale, None)):
        y = np.empty_like(x)
        k.qc_layernorm_f32(x, sc, bi, y, rows, n, 1e-5)
        ins = [x, np.ones(n, np.float32) if sc is None else sc, np.zeros(n, np.float32) if bi is None else bi]
        want = ort_op("LayerNormalization", ins, dict(axis=-1, epsilon=1e-5), opset=17)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-5)


def test_fakequant_f32(k):
    rng = np.random.default_rng(12)
    x = np.concatenate([f32(rng, 1000, -40, 40), np.float32([np.nan, np.inf, -np.inf, 0.25, 0.75, -0.25])])
    f = np.float32
    for scale, zp, qmin, qmax in ((0.5, 0, -128, 127), (0.01, 100, 0, 255), (0.003, -7, -32768, 32767),
                                  (1 / 7, 0, -7, 7)):  # fmt: skip
        y = np.empty_like(x)
        k.qc_fakequant_f32(x, y, x.size, scale, zp, qmin, qmax)
        with np.errstate(invalid="ignore"):
            q = np.rint(x / f(scale)) + f(zp)
        q = np.clip(np.where(np.isnan(q), f(qmin), q), f(qmin), f(qmax))
        np.testing.assert_array_equal(y, (q - f(zp)) * f(scale))
        if (qmin, qmax) == (0, 255):  # a uint8 Q/DQ pair in onnxruntime
            nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                     helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]  # fmt: skip
            fin = x[np.isfinite(x)]
            want = ort_run(nodes, {"x": fin}, dict(s=np.float32(scale), z=np.uint8(zp)))
            np.testing.assert_array_equal(y[np.isfinite(x)], want)
