"""How a plugin adds C kernels: ``qcompiler_register_c_kernels()`` returns :class:`CKernel`
descriptions; the C backend consults them before its built-in rules.

A kernel description names the op it lowers (``domain``, ``op_type``), a ``lower(lw, op)``
function that emits the calls (through ``lw.p.add(code, reads, writes, kernels)``, with views from
``lw.f32(value)``, ``lw.qin(value)``, ``lw.out_view(value, et)``...; see
``qcompiler.codegen.c.float_rules`` for worked examples) and returns ``False`` to leave the op
to the built-in rules, and the C sources of the kernel functions it calls (copied into the
generated folder's ``kernels/``; ``headers`` into ``kernels/include/``, and model.c includes
each of them, so they declare the kernel functions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CKernel"]


@dataclass(frozen=True)
class CKernel:
    op_type: str
    lower: Callable[[Any, Any], bool]
    sources: Mapping[str, Path] = field(default_factory=dict)  # kernel function -> .c file
    headers: Sequence[Path] = ()
    domain: str = ""

    @property
    def key(self) -> str:
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}.{self.op_type}"
