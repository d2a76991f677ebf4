"""The ``qcompiler`` command line.

Errors caused by the input are printed as one line, ``qcompiler: error: ...``, with a non-zero
exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
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

    i = sub.add_parser("inspect", help="show ops, shapes, parameters and MACs per layer")
    _add_model_args(i)
    i.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("passes", help="list every registered pass, its plugin and options")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    for sp in (c, i, p):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")  # fmt: skip
    return parser


def _cmd_compile(args: argparse.Namespace) -> int:
    from qcompiler.driver import compile as run_compile

    config = None
    if args.config or args.calib_data:
        from qcompiler.quant_api import config_from_cli

        config = config_from_cli(args.config, args.calib_data)
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
    handler = {"compile": _cmd_compile, "inspect": _cmd_inspect, "passes": _cmd_passes}[args.command]
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
