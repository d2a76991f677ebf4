"""The C backend (``--backend c``): a buildable folder with the model as C source.

``emit`` lowers the IR (:mod:`.lower`), plans the arena (:mod:`.plan`), renders the library
(:mod:`.emit`) into a temporary folder beside the output and renames it into place, so a failed
compile writes nothing. The summary gives ops, MACs, arena bytes beside the lower bound and a
naive plan, and flash bytes measured by compiling the library for the target (when that
target's compiler is installed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from qcompiler.codegen.onnx_backend import BackendResult
from qcompiler.errors import BackendError
from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Model

from .emit import TARGETS, copy_support, kernel_files, render
from .kernel_api import CKernel
from .lower import lower
from .plan import plan_arena

__all__ = ["CBackend", "generate", "measure_flash", "MARKER"]

MARKER = ".qcompiler-c"

#: target -> (compiler, flags) used to measure flash bytes
_FLASH_CC = {
    "generic": ("cc", ["-O2"]),
    "x86-avx2": ("cc", ["-O2", "-mavx2", "-mfma"]),
    "x86-avx512vnni": ("cc", ["-O2", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma"]),
    "arm-neon": ("aarch64-linux-gnu-gcc", ["-O2", "-march=armv8.2-a+dotprod"]),
    "cortex-m": ("arm-none-eabi-gcc", ["-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                                       "-mfpu=fpv4-sp-d16"]),
}  # fmt: skip


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise BackendError(f"unknown C target '{target}' (choose one of {', '.join(TARGETS)})")


def _plugin_kernels(registry) -> tuple[dict, dict, list]:
    """Lowering rules, kernel sources and headers from ``qcompiler_register_c_kernels()``."""
    rules, sources, headers = {}, {}, []
    for k, label in getattr(registry, "c_kernels", []) if registry is not None else []:
        if not isinstance(k, CKernel):
            raise BackendError(f"plugin {label}: qcompiler_register_c_kernels() must return CKernel objects, "
                               f"got {type(k).__name__}")  # fmt: skip
        if k.key in rules:
            raise BackendError(f"C kernels for {k.key} come from two plugins ({label} and another)")
        rules[k.key] = k.lower
        sources.update({n: Path(p) for n, p in k.sources.items()})
        headers += [Path(h) for h in k.headers]
    return rules, sources, headers


def generate(model: Model, out_dir: str | os.PathLike, *, target: str = "generic", source: str = "",
             inplace: bool = True, registry: Any = None) -> dict[str, Any]:  # fmt: skip
    """Write the library into ``out_dir`` (which must exist); return the summary."""
    _check_target(target)
    rules, extra, headers = _plugin_kernels(registry)
    prog, lw = lower(model, rules)
    arena = plan_arena(prog, inplace=inplace)
    files = render(prog, arena, source, headers)
    kernels = kernel_files([k for st in prog.steps for k in st.kernels], target, extra)
    out = Path(out_dir)
    for name, text in files.items():
        (out / name).write_text(text)
    copy_support(out, kernels, target, source, headers)
    (out / MARKER).write_text(f"target={target}\n")
    declared = set(re.findall(r"static const \w+ (\w+)\[", files["model.c"]))
    weight_bytes = sum(c.values.nbytes for c in prog.consts if c.name in declared)
    return {
        "ops": sum(lw.op_counts.values()),
        "int8 ops": lw.int8_ops,
        "float ops": lw.float_ops,
        "kernel calls": len(prog.steps),
        "MACs": sum(st.macs for st in prog.steps),
        "arena bytes": arena.size,
        "arena lower bound bytes": arena.lower_bound,
        "naive plan bytes": arena.naive,
        "weight bytes": weight_bytes,
        "target": target,
        "kernels": sorted(kernels),
    }


def measure_flash(folder: str | os.PathLike, target: str) -> int | None:
    """text+data bytes of model.c and the kernels compiled for ``target`` (None without the
    target's compiler)."""
    cc, flags = _FLASH_CC[target]
    size = cc.replace("gcc", "size") if cc.endswith("gcc") else "size"
    if shutil.which(cc) is None or shutil.which(size) is None:
        return None
    folder = Path(folder)
    srcs = [folder / "model.c"] + sorted((folder / "kernels").glob("*.c"))
    with tempfile.TemporaryDirectory(prefix="qc-flash-") as tmp:
        objs = []
        for i, src in enumerate(srcs):
            obj = Path(tmp) / f"{i}.o"
            r = subprocess.run([cc, "-std=c99", *flags, "-ffunction-sections", "-fdata-sections",
                                f"-I{folder / 'kernels' / 'include'}", "-c", str(src), "-o", str(obj)],
                               capture_output=True, text=True)  # fmt: skip
            if r.returncode != 0:
                raise BackendError(f"C backend: generated {src.name} does not compile with {cc}: "
                                   f"{r.stderr.strip().splitlines()[0] if r.stderr.strip() else r.returncode}")  # noqa: E501
            objs.append(str(obj))
        r = subprocess.run([size, "-B", *objs], capture_output=True, text=True, check=True)
    total = 0
    for line in r.stdout.splitlines()[1:]:
        parts = line.split()
        total += int(parts[0]) + int(parts[1])
    return total


def _prepare_output(path: Path) -> None:
    if path.exists():
        if not path.is_dir():
            raise BackendError(f"C backend: output '{path}' exists and is not a folder")
        if any(path.iterdir()) and not (path / MARKER).exists():
            raise BackendError(f"C backend: output folder '{path}' is not empty and was not written by "
                               f"qcompiler; choose a new folder")  # fmt: skip


class CBackend:
    """Standalone C99 source with int8 kernels, a static arena and a command-line runner."""

    name = "c"
    description = "standalone C library (int8 kernels, static arena) with a Makefile and a runner"

    def emit(self, model: Model, output: str, *, ctx: Any = None) -> BackendResult:
        options = getattr(ctx, "options", {}) or {}
        target = options.get("target") or "generic"
        _check_target(target)  # before anything is written
        path = Path(output)
        _prepare_output(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            summary = generate(model, tmp, target=target, source=str(options.get("source") or ""),
                               registry=getattr(ctx, "registry", None))
            if options.get("c_measure_flash", True):
                flash = measure_flash(tmp, target)
                if flash is not None:
                    summary["flash bytes"] = flash
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
                os.rename(path, old / "x")
                os.rename(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, path)
        except BackendError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            source = options.get("source")
            if source and not str(e).startswith(str(source)):
                raise BackendError(f"{source}: {e}") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        kernels = summary.pop("kernels")
        summary["kernel files"] = len(kernels)
        return BackendResult([str(path)], summary)


@hookimpl
def qcompiler_register_backends():
    return [CBackend()]
