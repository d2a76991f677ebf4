"""Count the instructions a function executes under qemu, deterministically.

    python bench/qemu_count.py --elf build/cortex-m4/run_model.elf --func qc_conv2d_s8 -- \\
        qemu-system-arm -M mps2-an386 -nographic \\
        -semihosting-config enable=on,target=native,arg=run_model,arg=--input,arg=x.bin \\
        -kernel build/cortex-m4/run_model.elf

prints ``qc_conv2d_s8 123456``, one line per function. From Python::

    from qemu_count import count_instructions, function_ranges
    ranges = function_ranges("run_model", ["qc_matmul_s8"], nm="aarch64-linux-gnu-nm")
    counts = count_instructions(["qemu-aarch64", "./run_model", "--input", "x.bin"], ranges)

The TCG plugin (``bench/qemu_count/count.c``, plugin API version 1 as in Debian 12's qemu 7.2)
is compiled on first use with ``gcc -O2 -shared -fPIC`` into
``$QCOMPILER_CACHE_DIR/qemu_count/`` (default ``~/.cache/qcompiler/qemu_count/``), keyed by the
source's hash. It counts every instruction executed inside the given address ranges, so the
figures do not move with argv, environment or start-up code the way whole-program totals do.
Mark the counted kernels ``__attribute__((noipa))`` or GCC may clone them (``.constprop.0``)
and the plain symbol then counts zero; ``function_ranges`` names such clones in its error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_plugin", "count_instructions", "function_ranges", "plugin_cache_dir"]

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_count" / "count.c"
_LINE = re.compile(r"^qemu_count range=0x([0-9a-f]+)-0x([0-9a-f]+) insns=(\d+)$")


def plugin_cache_dir() -> Path:
    """``$QCOMPILER_CACHE_DIR/qemu_count``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, then
    ``qcompiler/qemu_count``."""
    env = os.environ.get("QCOMPILER_CACHE_DIR")
    if env:
        return Path(env) / "qemu_count"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qcompiler" / "qemu_count"


def build_plugin(cache_dir: str | os.PathLike[str] | None = None, cc: str = "gcc") -> Path:
    """Compile ``count.c`` into ``libcount-<hash>.so`` under ``cache_dir`` once; return its path."""
    source = PLUGIN_SOURCE.read_bytes()
    key = hashlib.sha256(source + cc.encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else plugin_cache_dir()
    lib = folder / f"libcount-{key}.so"
    if lib.exists():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        cmd = [cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(PLUGIN_SOURCE)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the qemu plugin failed: {' '.join(cmd)}\n{proc.stderr}")
        os.replace(tmp, lib)  # atomic: concurrent builders all end with a complete file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def function_ranges(
    elf: str | os.PathLike[str], names: Sequence[str], nm: str = "arm-none-eabi-nm"
) -> dict[str, tuple[int, int]]:
    """Address ranges ``[lo, hi)`` of functions, from ``nm -S`` (Thumb bit cleared).

    Raises ``KeyError`` naming a missing function and any of its compiler clones.
    """
    out = subprocess.run([nm, "-S", "--defined-only", str(elf)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    symbols: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            lo = int(parts[0], 16) & ~1
            symbols.setdefault(parts[3], (lo, lo + int(parts[1], 16)))
    result = {}
    for name in names:
        if name not in symbols:
            clones = sorted(s for s in symbols if s.startswith(name + "."))
            hint = f" (compiler clones: {', '.join(clones)}; mark it noipa)" if clones else ""
            raise KeyError(f"function {name!r} not in {elf}{hint}")
        result[name] = symbols[name]
    return result


def count_instructions(
    cmd: Sequence[str],
    ranges: dict[str, tuple[int, int]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 600,
    check: bool = True,
    plugin: str | os.PathLike[str] | None = None,
) -> dict[str, int]:
    """Run a qemu command line with the counting plugin; return the instructions executed in
    each named range ``[lo, hi)``.

    ``cmd[0]`` is the qemu binary (``qemu-aarch64``, ``qemu-system-arm``, ...); the plugin
    options are inserted right after it. The program's stdin is empty and its output is
    discarded. With ``check``, a non-zero exit status raises ``RuntimeError`` with the last
    lines of stderr.
    """
    if not cmd or not Path(cmd[0]).name.startswith("qemu-"):
        raise ValueError(f"cmd must start with a qemu binary, got {list(cmd)[:1]}")
    if not ranges:
        raise ValueError("no address range to count")
    lib = Path(plugin) if plugin is not None else build_plugin()
    names = list(ranges)
    args = [f"range={ranges[n][0]:#x}-{ranges[n][1]:#x}" for n in names]
    spec = ",".join([str(lib).replace(",", ",,"), *args])  # qemu escapes ',' as ',,'
    with tempfile.TemporaryDirectory(prefix="qemu_count-") as tmp:
        log = Path(tmp) / "plugin.log"
        full = [cmd[0], "-plugin", spec, "-d", "plugin", "-D", str(log), *cmd[1:]]
        proc = subprocess.run(full, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)  # fmt: skip
        if check and proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"{' '.join(full)} exited with {proc.returncode}: {tail}")
        text = log.read_text() if log.exists() else ""
    found = [m for m in map(_LINE.match, text.splitlines()) if m]
    if len(found) != len(names):
        raise RuntimeError(
            f"the plugin printed {len(found)} counts for {len(names)} ranges:\n{text}"
        )
    return {name: int(m.group(3)) for name, m in zip(names, found)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s --elf ELF --func NAME [...] -- QEMU ARGS...")  # fmt: skip
    parser.add_argument("--elf", required=True, help="the program, for its symbol table")
    parser.add_argument("--func", action="append", required=True, help="function to count")
    parser.add_argument("--nm", default=None, help="nm of the ELF's architecture "
                        "(default: arm-none-eabi-nm for qemu-system-arm, else <arch>-linux-gnu-nm)")  # fmt: skip
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- qemu command line")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("give the qemu command line after --")
    nm = args.nm
    if nm is None:
        qemu = Path(cmd[0]).name
        arch = qemu.replace("qemu-", "")
        nm = "arm-none-eabi-nm" if qemu == "qemu-system-arm" else f"{arch}-linux-gnu-nm"
    counts = count_instructions(cmd, function_ranges(args.elf, args.func, nm=nm))
    for name, n in counts.items():
        print(f"{name} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
