"""The ``qcompiler`` command line.

Errors caused by the input are printed as one line, ``qcompiler: error: ...``, with a non-zero
exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from qcompiler import __version__
from qcompiler.errors import QCompilerError

__all__ = ["main", "build_parser"]


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the model file (.onnx)")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:D0,D1,...",
                   help="bind the dims of an input (repeatable), e.g. x:1,3,48,192")  # fmt: skip


def _add_trial_args(p) -> None:
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="processes running the trials (default: one per core, at most 4)")  # fmt: skip
    p.add_argument("--samples", type=int, default=32, metavar="N",
                   help="calibration samples the trials are measured on (default 32)")  # fmt: skip
    p.add_argument("--runtime", default="reference", choices=("reference", "onnxruntime"),
                   help="measure the QDQ model as written (reference, default) or with onnxruntime's optimizations")  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``qcompiler: error:`` line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"qcompiler: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qcompiler",
        description="Compile trained float models into quantized models for CPUs and MCUs.",
    )
    parser.add_argument("--version", action="version", version=f"qcompiler {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compile", help="compile a model")
    _add_model_args(c)
    c.add_argument("-o", "--output", required=True, help="output file (.onnx) or folder (C)")
    c.add_argument("--pipeline", default=None,
                   help="pipeline text, e.g. 'fold-constants,eliminate-dead-code'; '' runs no pass")  # fmt: skip
    c.add_argument("--config", help="quantization config (MindSpore Lite INI or TOML)")
    c.add_argument("--calib-data", help="calibration data folder (overrides calibrate_path)")
    c.add_argument("--backend", default="onnx", help="backend: onnx (default) or c")
    c.add_argument("--target", default=None, help="target of the C backend")
    c.add_argument("--time-passes", action="store_true", help="print time and changes per pass")
    c.add_argument("--print-ir-after", action="append", default=[], metavar="PASS",
                   help="print the IR after PASS (repeatable; 'all' for every pass)")  # fmt: skip
    c.add_argument("--dump-dir", help="write the IR after every pass into this folder")
    c.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    c.add_argument("--quiet", action="store_true", help="print nothing on success")
    c.add_argument("--report", metavar="FILE", help="also write the HTML quantization report to FILE")
    sel = c.add_argument_group("automatic selection of the layers kept float")
    sel.add_argument("--target-cosine", type=float, metavar="X",
                     help="keep the fewest layers float for an output cosine similarity >= X (e.g. 0.995)")  # fmt: skip
    sel.add_argument("--target-sqnr", type=float, metavar="DB", help="... for an output SQNR >= DB")
    sel.add_argument("--save-config", metavar="FILE",
                     help="where the chosen config goes (default: OUTPUT with suffix .selected.ini)")  # fmt: skip
    _add_trial_args(sel)

    i = sub.add_parser("inspect", help="show ops, shapes, parameters and MACs per layer")
    _add_model_args(i)
    i.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("passes", help="list every registered pass, its plugin and options")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    r = sub.add_parser("report", help="quantize in memory and write the HTML quantization report")
    _add_model_args(r)
    r.add_argument("-o", "--output", required=True, help="the report file (.html)")
    r.add_argument("--config", help="quantization config (MindSpore Lite INI or TOML)")
    r.add_argument("--calib-data", help="calibration data folder (overrides calibrate_path)")
    r.add_argument("--backend", default="onnx", help="backend whose summary (e.g. C arena and flash) to show")
    r.add_argument("--target", default=None, help="target of the C backend")
    r.add_argument("--analyze", action="store_true", help="add a per-layer sensitivity analysis")
    r.add_argument("--mode", default="skip", choices=("skip", "only", "both"),
                   help="with --analyze: keep one layer float at a time (skip), quantize one at a time (only), or both")  # fmt: skip
    _add_trial_args(r)
    r.add_argument("--quiet", action="store_true", help="print nothing on success")

    a = sub.add_parser("analyze", help="per-layer sensitivity: which layers lose the accuracy")
    _add_model_args(a)
    a.add_argument("--config", help="quantization config (MindSpore Lite INI or TOML)")
    a.add_argument("--calib-data", help="calibration data folder (overrides calibrate_path)")
    a.add_argument("--mode", default="skip", choices=("skip", "only", "both"),
                   help="keep one layer float at a time (skip, default), quantize one at a time (only), or both")  # fmt: skip
    _add_trial_args(a)
    a.add_argument("--top", type=int, default=None, metavar="N", help="print only the N most sensitive layers")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.add_argument("--report", metavar="FILE", help="also write the HTML report with the analysis to FILE")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    for sp in (c, i, p, r, a):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")  # fmt: skip
    return parser


def _config(args: argparse.Namespace):
    if not (args.config or args.calib_data):
        return None
    from qcompiler.quant_api import config_from_cli

    return config_from_cli(args.config, args.calib_data)


def _trial_options(args: argparse.Namespace) -> dict:
    from qcompiler.errors import QCompilerError as Err

    if args.jobs is not None and args.jobs < 1:
        raise Err(f"--jobs {args.jobs}: must be at least 1")
    if args.samples < 1:
        raise Err(f"--samples {args.samples}: must be at least 1")
    return {"jobs": args.jobs, "samples": args.samples, "runtime": args.runtime, "input_shapes": args.input_shape,
            "progress": not getattr(args, "quiet", False) and sys.stderr.isatty()}  # fmt: skip


def _select(args: argparse.Namespace, config):
    """``--target-cosine`` / ``--target-sqnr``: choose the layers to keep float, write the config."""
    import os
    from pathlib import Path

    from qcompiler.analyze import select_float_layers
    from qcompiler.report.render import check_output_path

    if config is None:
        raise QCompilerError("--target-cosine/--target-sqnr need a quantization config (--config) or --calib-data")
    path = args.save_config or str(Path(args.output).with_suffix(".selected.ini"))
    if args.config and os.path.abspath(path) == os.path.abspath(args.config):
        raise QCompilerError(f"--save-config {path}: is the input config; choose another file")
    check_output_path(path, "--save-config")
    sel = select_float_layers(args.model, config, target_cosine=args.target_cosine, target_sqnr=args.target_sqnr,
                              **_trial_options(args))  # fmt: skip
    sel.write_config(path)
    for w in sel.warnings:
        print(f"qcompiler: warning: {w}", file=sys.stderr)
    if not args.quiet:
        kept = ", ".join(sel.skipped) if sel.skipped else "no layer"
        state = "met" if sel.met else "NOT met"
        print(f"target {sel.target_text()} {state}: {kept} kept float ({sel.final.describe()}; everything "
              f"quantized: {sel.baseline.describe()}); wrote {path}")  # fmt: skip
    return sel


def _cmd_compile(args: argparse.Namespace) -> int:
    from qcompiler.driver import compile as run_compile

    config = _config(args)
    if args.report:
        from qcompiler.report.render import check_output_path

        check_output_path(args.report, "--report")
    selection = None
    if args.target_cosine is not None or args.target_sqnr is not None:
        selection = _select(args, config)
        config = selection.config
    elif args.save_config:
        raise QCompilerError("--save-config needs --target-cosine or --target-sqnr")
    result = run_compile(
        args.model, args.output, pipeline=args.pipeline, input_shapes=args.input_shape,
        config=config, backend=args.backend, target=args.target, time_passes=args.time_passes,
        print_ir_after=args.print_ir_after, dump_dir=args.dump_dir, verify_each=args.verify_each,
        progress=not args.quiet and sys.stderr.isatty(),
    )  # fmt: skip
    for w in result.warnings:
        print(f"qcompiler: warning: {w}", file=sys.stderr)
    if not args.quiet:
        summary = ", ".join(f"{k} {v}" for k, v in result.summary.items())
        print(f"wrote {', '.join(result.outputs)}" + (f" ({summary})" if summary else ""))
    if args.report:
        from qcompiler.report import write_report

        write_report(result, args.report, source=args.model, selection=selection)
        if not args.quiet:
            print(f"wrote {args.report}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import tempfile

    from qcompiler.driver import compile as run_compile
    from qcompiler.report import write_report
    from qcompiler.report.render import check_output_path

    check_output_path(args.output, "-o")
    config = _config(args)
    sensitivity = None
    if args.analyze:
        from qcompiler.analyze import analyze

        if config is None:
            raise QCompilerError("--analyze needs a quantization config (--config) or --calib-data")
        sensitivity = analyze(args.model, config, modes=args.mode, **_trial_options(args))
    with tempfile.TemporaryDirectory(prefix="qcompiler-report-") as tmp:
        # The backend's output is only measured (arena, flash...), then dropped.
        out = os.path.join(tmp, "model.onnx" if args.backend == "onnx" else "model")
        result = run_compile(args.model, out, input_shapes=args.input_shape, config=config, backend=args.backend,
                             target=args.target, progress=not args.quiet and sys.stderr.isatty())  # fmt: skip
        result.outputs = []
    for w in result.warnings:
        print(f"qcompiler: warning: {w}", file=sys.stderr)
    write_report(result, args.output, source=args.model, sensitivity=sensitivity)
    if not args.quiet:
        print(f"wrote {args.output}")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from qcompiler.analyze import analyze

    config = _config(args)
    if config is None:
        raise QCompilerError("analyze needs a quantization config (--config q.ini) or --calib-data DIR")
    if args.top is not None and args.top < 1:
        raise QCompilerError(f"--top {args.top}: must be at least 1")
    if args.report:
        from qcompiler.report.render import check_output_path

        check_output_path(args.report, "--report")
    sens = analyze(args.model, config, modes=args.mode, **_trial_options(args))
    if args.json:
        print(json.dumps(sens.as_dict(), indent=1))
    else:
        sys.stdout.write(sens.format_table(args.top))
    if args.report:
        from qcompiler.driver import compile as run_compile
        from qcompiler.report import write_report

        result = run_compile(args.model, None, input_shapes=args.input_shape, config=config)
        write_report(result, args.report, source=args.model, sensitivity=sens)
        if not args.json:
            print(f"wrote {args.report}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from qcompiler.driver import load_model
    from qcompiler.inspect_model import format_report, layer_table

    model = load_model(args.model, input_shapes=args.input_shape)
    if args.json:
        rows = [r.__dict__ for r in layer_table(model)]
        print(json.dumps({"model": args.model, "layers": rows}, indent=1))
    else:
        sys.stdout.write(format_report(model, args.model))
    return 0


def _cmd_passes(args: argparse.Namespace) -> int:
    from qcompiler.driver import default_registry

    reg = default_registry()
    items = []
    for name in sorted(reg.passes):
        cls, plugin = reg.passes[name]
        opts = [{"name": s.name, "type": s.type_name, "default": s.default, "help": s.help}
                for s in cls.option_specs()]  # fmt: skip
        items.append({"name": name, "plugin": plugin, "description": cls.description, "options": opts})
    if args.json:
        print(json.dumps({"passes": items, "pipelines": {m: t for m, (t, _) in sorted(reg.pipelines.items())}},
                         indent=1, default=str))  # fmt: skip
        return 0
    for it in items:
        print(f"{it['name']}  [{it['plugin']}]  {it['description']}")
        for o in it["options"]:
            from qcompiler.pass_base import format_option_value

            print(f"    {o['name']}: {o['type']} = {format_option_value(o['default'])}"
                  + (f"  ({o['help']})" if o["help"] else ""))  # fmt: skip
    print()
    for mode, (text, plugin) in sorted(reg.pipelines.items()):
        print(f"default pipeline '{mode}' [{plugin}]: {text}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    handler = {"compile": _cmd_compile, "inspect": _cmd_inspect, "passes": _cmd_passes, "report": _cmd_report,
               "analyze": _cmd_analyze}[args.command]  # fmt: skip
    if not args.debug and args.command in ("compile", "report", "analyze"):
        # onnxruntime's own warnings (its graph optimizer's notes on the model, printed while
        # qcompiler folds shapes and calibrates) are not the user's concern; --debug keeps them
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
    try:
        return handler(args)
    except QCompilerError as e:
        if args.debug:
            raise
        msg = " ".join(str(e).split("\n"))
        print(f"qcompiler: error: {msg}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("qcompiler: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - an internal bug: one line unless --debug
        if args.debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"qcompiler: internal error: {type(e).__name__}: {first} (run with --debug for a "
              "traceback)", file=sys.stderr)  # fmt: skip
        return 70


if __name__ == "__main__":
    sys.exit(main())
