"""The README's C section runs as written: float ONNX in, C out, built and run on the emulated
Cortex-M4, printing the digit the model sees."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm (.ci/run installs them)")
def test_readme_cortex_m4_walkthrough(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Compile to C for a microcontroller\n.*?```sh\n(.*?)```", text, re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert lines[0].startswith("qcompiler compile") and "--backend c" in lines[0]
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    monkeypatch.setenv("QCOMPILER_CACHE_DIR", str(tmp_path / "cache"))
    script = "set -e\n" + "\n".join(lines).replace("qcompiler compile", f"{shlex.quote(sys.executable)} -m qcompiler.cli compile", 1)
    script = script.replace("python -c", f"{shlex.quote(sys.executable)} -c")
    r = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    digit = r.stdout.strip().splitlines()[-1]
    # calib_000.bin is a digit the float model classifies; the int8 C program agrees with it
    import numpy as np
    import onnxruntime as ort

    x = np.fromfile(ROOT / "examples/digits/calib/calib_000.bin", np.float32).reshape(1, 1, 16, 16)
    s = ort.InferenceSession(str(ROOT / "examples/digits/digits_cnn.onnx"))
    assert int(digit) == int(s.run(None, {"input": x})[0].argmax())
