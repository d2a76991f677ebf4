"""The compile driver: the Python API the CLI itself uses.

``compile(model, output, ...)`` reads the model through a frontend, runs a pipeline (given as
text, or the default of the compile mode), verifies the result and hands it to a backend::

    import qcompiler
    result = qcompiler.compile("model.onnx", "out.onnx", pipeline="fold-constants")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from qcompiler.errors import ModelLoadError, PipelineError, QCompilerError
from qcompiler.ir import Model, verify
from qcompiler.pass_base import PassContext
from qcompiler.pass_manager import Instrumentation, PassManager, PassRecord
from qcompiler.pipeline import Pipeline, parse_pipeline
from qcompiler.registry import Registry, load_registry

__all__ = ["compile", "load_model", "CompileResult", "parse_input_shape", "default_registry"]

_REGISTRY: Registry | None = None


def default_registry() -> Registry:
    """The registry of installed plugins, loaded once per process."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


@dataclass
class CompileResult:
    model: Model
    pipeline: Pipeline
    outputs: list[str] = field(default_factory=list)
    records: list[PassRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    context: PassContext | None = None


def parse_input_shape(text: str) -> tuple[str, list[int]]:
    """Parse ``NAME:D0,D1,...`` (the name may itself contain ':')."""
    name, sep, dims = text.rpartition(":")
    if not sep or not name:
        raise QCompilerError(f"--input-shape {text!r}: expected NAME:D0,D1,... (e.g. x:1,3,224,224)")
    try:
        values = [int(d) for d in dims.split(",") if d.strip()]
    except ValueError:
        raise QCompilerError(f"--input-shape {text!r}: dims must be integers") from None
    if not values or any(v <= 0 for v in values):
        raise QCompilerError(f"--input-shape {text!r}: dims must be positive integers")
    return name, values


def _shapes(input_shapes: Mapping[str, Sequence[int]] | Sequence[str] | None) -> dict[str, list[int]]:  # noqa: E501
    if not input_shapes:
        return {}
    if isinstance(input_shapes, Mapping):
        return {k: [int(d) for d in v] for k, v in input_shapes.items()}
    out: dict[str, list[int]] = {}
    for text in input_shapes:
        name, dims = parse_input_shape(text)
        if name in out:
            raise QCompilerError(f"--input-shape {name!r} is given twice")
        out[name] = dims
    return out


def _batch_of_one(ir: Model, given: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """Input name -> its shape with the first dimension 1, for each graph input not in ``given``
    whose first dimension is its only symbolic one (a dynamic batch)."""
    out = {}
    for v in ir.graph.inputs:
        shape = getattr(v.type, "shape", None)
        dims = list(shape.dims or ()) if shape is not None else []
        if v.name in given or not dims or isinstance(dims[0], int):
            continue
        if all(isinstance(d, int) for d in dims[1:]):
            out[v.name] = [1, *dims[1:]]
    return out


def load_model(source: Any, *, input_shapes=None, registry: Registry | None = None) -> Model:
    """Read a model with the frontend that accepts it (ONNX files and ``ModelProto`` objects)."""
    registry = registry or default_registry()
    shapes = _shapes(input_shapes)
    if isinstance(source, Model):
        return source.clone()
    if isinstance(source, (onnx.ModelProto, bytes, bytearray)):
        from qcompiler.frontend.onnx_frontend import load_onnx

        return load_onnx(source, input_shapes=shapes)
    path = os.fspath(source)
    frontend = registry.frontend_for(path)
    if frontend is None:
        if os.path.isdir(path):
            raise ModelLoadError(f"{path}: is a directory, expected a model file")
        # Unknown suffix: try ONNX, the format qcompiler reads natively.
        from qcompiler.frontend.onnx_frontend import load_onnx

        return load_onnx(path, input_shapes=shapes)
    return frontend.load(path, input_shapes=shapes)


def _print_ir_after(names: Sequence[str] | str, pipeline: Pipeline) -> frozenset[str]:
    """Check ``--print-ir-after`` names against the pipeline (a typo would print nothing)."""
    names = [names] if isinstance(names, str) else list(names)
    known = pipeline.names()
    for name in names:
        if name != "all" and name not in known:
            raise PipelineError(f"--print-ir-after {name!r}: no such pass in the pipeline "
                                f"(passes: {', '.join(known) or 'none'}; or 'all')")  # fmt: skip
    return frozenset(names)


def _compile_mode(config: Any) -> str:
    if config is None:
        return "float"
    return "full-quant" if getattr(config, "is_full_quant", False) else "weight-quant"


def compile(  # noqa: A001 - the public name the issue fixes
    model: Any,
    output: str | os.PathLike | None = None,
    *,
    pipeline: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None,
    config: Any = None,
    calib_data: Any = None,
    backend: str = "onnx",
    target: str | None = None,
    time_passes: bool = False,
    print_ir_after: Sequence[str] = (),
    dump_dir: str | os.PathLike | None = None,
    verify_each: bool = False,
    registry: Registry | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> CompileResult:
    """Compile ``model`` (path, ``ModelProto`` or IR) and write it to ``output`` if given.

    ``pipeline`` is pipeline text (``""`` runs no pass: load and save); ``None`` takes the
    default pipeline of the mode the config implies (``float`` without a config).
    """
    registry = registry or default_registry()
    if pipeline is not None and not isinstance(pipeline, str):
        raise QCompilerError("pipeline must be text")
    if config is not None:
        from qcompiler.config import resolve_config

        config = resolve_config(config)
    mode = _compile_mode(config)
    text = registry.pipeline_text(mode) if pipeline is None else pipeline
    parsed = parse_pipeline(text, registry)  # bad pipelines fail before any work is done
    emitter = registry.backend(backend) if output is not None else None  # so do unknown backends
    print_after = _print_ir_after(print_ir_after, parsed)
    ir = load_model(model, input_shapes=input_shapes, registry=registry)
    notes = []
    if backend == "c" and not isinstance(model, Model):
        given = _shapes(input_shapes)
        bound = _batch_of_one(ir, given)
        if bound:  # generated C has static shapes: a free batch dimension becomes 1, as TFLite's converter does
            ir = load_model(model, input_shapes={**given, **bound}, registry=registry)
            notes = [f"input {name!r}: dynamic batch dimension set to 1 for the C backend (give --input-shape "
                     f"{name}:{','.join(map(str, dims))} with another batch to choose)" for name, dims in bound.items()]
    ctx = PassContext(config=config, calib_data=calib_data, registry=registry,
                      options={"progress": progress, "target": target, "backend": backend,
                               "source": ir.meta.get("source"), **(options or {})})  # fmt: skip
    ctx.warnings.extend(notes)
    instr = Instrumentation(time_passes=time_passes, print_ir_after=print_after,
                            dump_dir=os.fspath(dump_dir) if dump_dir else None,
                            verify_each=verify_each)  # fmt: skip
    manager = PassManager(parsed, instr)
    manager.run(ir, ctx)
    verify(ir)
    if config is not None and config.get("common_quant_param", "debug_info_save_path"):
        from qcompiler.debug_report import write_debug_report

        write_debug_report(ir, ctx, config.get("common_quant_param", "debug_info_save_path"))
    result = CompileResult(ir, parsed, records=manager.records, warnings=ctx.warnings, context=ctx)
    if output is not None:
        emitted = emitter.emit(ir, os.fspath(output), ctx=ctx)
        result.outputs = emitted.paths
        result.summary = emitted.summary
    return result
