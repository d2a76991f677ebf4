"""Building and running generated C folders in tests: `make` in the folder as a user would,
with an object cache across folders (kernel files are identical copies, so their objects are
reused by pre-seeding build/<BOARD>/ with the cached flags stamp and objects), and runners for
the host, qemu-aarch64 and the emulated Cortex-M boards."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

QEMU_MACHINES = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}
_CACHE: dict[tuple, Path] = {}
TOOLS = {"host": "cc", "aarch64": "aarch64-linux-gnu-gcc", "cortex-m4": "arm-none-eabi-gcc",
         "cortex-m7": "arm-none-eabi-gcc", "cortex-m55": "arm-none-eabi-gcc"}  # fmt: skip
RUNNERS = {"aarch64": "qemu-aarch64", "cortex-m4": "qemu-system-arm", "cortex-m7": "qemu-system-arm",
           "cortex-m55": "qemu-system-arm"}  # fmt: skip


def have(board: str) -> bool:
    return shutil.which(TOOLS[board]) is not None and (board == "host" or shutil.which(RUNNERS[board]) is not None)


def _sha(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()[:16]


def build(folder: Path, board: str = "host", cache_root: Path | None = None, *args: str) -> Path:
    """``make BOARD=board WERROR=1 args`` in ``folder``; returns the program path."""
    folder = Path(folder)
    bdir = folder / "build" / ("host-sanitize" if "SANITIZE=1" in args else board)
    target = next(line for line in (folder / "Makefile").read_text().splitlines() if line.startswith("QC_TARGET"))
    key = (board, args, target)
    cache = None
    if cache_root is not None:
        cache = Path(cache_root) / hashlib.sha1(repr(key).encode()).hexdigest()[:12]
        if (cache / "flags").exists():
            (bdir / "kernels").mkdir(parents=True, exist_ok=True)
            shutil.copy2(cache / "flags", bdir / "flags")
            for src in (folder / "kernels").glob("*.c"):
                obj = cache / f"{src.stem}-{_sha(src)}.o"
                if obj.exists():
                    shutil.copyfile(obj, bdir / "kernels" / f"{src.stem}.o")
                    dep = obj.with_suffix(".d")
                    if dep.exists():
                        shutil.copyfile(dep, bdir / "kernels" / f"{src.stem}.d")
    r = subprocess.run(["make", "-j2", f"BOARD={board}", "WERROR=1", *args], cwd=folder,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, f"make BOARD={board} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy2(bdir / "flags", cache / "flags")
        for src in (folder / "kernels").glob("*.c"):
            obj = bdir / "kernels" / f"{src.stem}.o"
            dst = cache / f"{src.stem}-{_sha(src)}.o"
            if obj.exists() and not dst.exists():
                shutil.copyfile(obj, dst)
                if obj.with_suffix(".d").exists():
                    shutil.copyfile(obj.with_suffix(".d"), dst.with_suffix(".d"))
    return folder / ("run_model.elf" if board.startswith("cortex-m") else "run_model")


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_")


def run(folder: Path, feeds: dict[str, np.ndarray], board: str = "host", tag: str = "io",
        timeout: float = 120) -> dict[str, np.ndarray]:  # fmt: skip
    """Run the built program on ``feeds``; returns output name -> flat float32 array."""
    folder = Path(folder)
    io = folder / tag
    io.mkdir(exist_ok=True)
    out = io / f"out-{board}"
    out.mkdir(exist_ok=True)
    args = []
    for i, (name, arr) in enumerate(feeds.items()):
        f = io / f"in{i}.bin"
        np.ascontiguousarray(arr, dtype=np.float32).tofile(f)
        args += ["--input", f"{name}={os.path.relpath(f, folder)}"]
    args += ["--output-dir", os.path.relpath(out, folder)]
    if board == "host":
        cmd = ["./run_model", *args]
    elif board == "aarch64":
        cmd = ["qemu-aarch64", "./run_model", *args]
    else:
        sh = ",".join("arg=" + a.replace(",", ",,") for a in ["run_model", *args])
        cmd = ["qemu-system-arm", "-M", QEMU_MACHINES[board], "-nographic", "-semihosting-config",
               f"enable=on,target=native,{sh}", "-kernel", "run_model.elf"]  # fmt: skip
    r = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{board} run failed ({r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}"
    return {p.stem: np.fromfile(p, np.float32) for p in out.glob("*.bin")}


def outputs_by_name(folder: Path, names: list[str], got: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [got[_safe(n)] for n in names]
