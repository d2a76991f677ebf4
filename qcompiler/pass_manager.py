"""Runs a pipeline over a model, with instrumentation kept out of the passes.

Instrumentation: ``time_passes`` (wall time, whether the pass changed the model, op counts),
``print_ir_after`` (pass names or ``all``: the IR text after those passes, to a stream),
``dump_dir`` (the IR as text and ONNX before the first and after every pass, and on failure a
reproducer: the pipeline from the failing pass on plus the IR it got), ``verify_each`` (the
verifier after every pass, naming the pass that broke the IR).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from qcompiler.errors import PassError, QCompilerError, VerificationError
from qcompiler.ir import Model, print_model, verify
from qcompiler.pass_base import PassContext
from qcompiler.pipeline import Pipeline

__all__ = ["PassManager", "Instrumentation", "PassRecord"]


@dataclass
class PassRecord:
    name: str
    plugin: str
    seconds: float
    changed: bool
    ops_before: int
    ops_after: int


@dataclass
class Instrumentation:
    time_passes: bool = False
    print_ir_after: frozenset[str] = frozenset()
    dump_dir: str | None = None
    verify_each: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stderr)


def _count_ops(model: Model) -> int:
    return sum(1 for _ in model.graph.all_ops())


def format_timings(records: list[PassRecord]) -> str:
    """The ``--time-passes`` table."""
    total = sum(r.seconds for r in records) or 1e-12
    width = max([len(r.name) for r in records] + [4])
    lines = [f"{'pass':<{width}}  {'time (ms)':>10}  {'share':>6}  {'changed':>7}  {'ops':>13}"]
    for r in records:
        lines.append(f"{r.name:<{width}}  {r.seconds * 1e3:>10.2f}  {r.seconds / total:>6.1%}  "
                     f"{'yes' if r.changed else 'no':>7}  {r.ops_before:>6}->{r.ops_after:<6}")  # fmt: skip
    lines.append(f"{'total':<{width}}  {total * 1e3:>10.2f}")
    return "\n".join(lines)


class PassManager:
    """Runs the passes of a :class:`Pipeline` in order."""

    def __init__(self, pipeline: Pipeline, instrumentation: Instrumentation | None = None):
        self.pipeline = pipeline
        self.instr = instrumentation or Instrumentation()
        self.records: list[PassRecord] = []

    def _dump(self, model: Model, step: int, name: str) -> None:
        if not self.instr.dump_dir:
            return
        from qcompiler.codegen.onnx_backend import ir_to_proto

        d = Path(self.instr.dump_dir)
        d.mkdir(parents=True, exist_ok=True)
        stem = f"{step:02d}-{name}"
        (d / f"{stem}.ir.txt").write_text(print_model(model))
        try:
            proto = ir_to_proto(model, fill_types=False)
            (d / f"{stem}.onnx").write_bytes(proto.SerializeToString(deterministic=True))
        except Exception as e:  # noqa: BLE001 - the text dump is still there
            (d / f"{stem}.onnx.error.txt").write_text(f"{type(e).__name__}: {e}\n")

    def _reproducer(self, index: int, step_name: str) -> str:
        if not self.instr.dump_dir:
            return ""
        d = Path(self.instr.dump_dir)
        rest = ",".join(str(e) for e in self.pipeline.entries[index:])
        prev = f"{index:02d}-{step_name}"
        (d / "reproducer.txt").write_text(
            f"# input IR: {prev}.onnx / {prev}.ir.txt\n"
            f"qcompiler compile {d / (prev + '.onnx')} -o repro.onnx --pipeline '{rest}'\n"
        )
        return f"; reproducer in {d / 'reproducer.txt'}"

    def run(self, model: Model, ctx: PassContext) -> Model:
        self._dump(model, 0, "input")
        prev_name = "input"
        for i, entry in enumerate(self.pipeline.entries):
            p = entry.instantiate()
            before = _count_ops(model) if self.instr.time_passes else 0
            start = time.perf_counter()
            try:
                changed = p(model, ctx)
            except QCompilerError as e:
                if isinstance(e, PassError) and str(e).startswith("pass "):
                    raise
                raise type(e)(f"{entry.name}: {e}") from e
            except Exception as e:  # noqa: BLE001 - a plugin bug is reported with its owner
                where = self._reproducer(i, prev_name)
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                raise PassError(f"pass {entry.name!r} (plugin {entry.plugin!r}) failed: "
                                f"{type(e).__name__}: {msg}{where}") from e  # fmt: skip
            elapsed = time.perf_counter() - start
            if self.instr.verify_each:
                try:
                    verify(model)
                except VerificationError as e:
                    raise PassError(f"pass {entry.name!r} (plugin {entry.plugin!r}) left invalid "
                                    f"IR: {str(e).removeprefix('invalid IR: ')}") from e  # fmt: skip
            after = _count_ops(model) if self.instr.time_passes else 0
            self.records.append(PassRecord(entry.name, entry.plugin, elapsed, changed, before, after))
            prev_name = entry.name
            self._dump(model, i + 1, entry.name)
            if entry.name in self.instr.print_ir_after or "all" in self.instr.print_ir_after:
                self.instr.stream.write(f"// IR after {entry.name}\n{print_model(model)}")
        if self.instr.time_passes and self.records:
            self.instr.stream.write(format_timings(self.records) + "\n")
        return model
