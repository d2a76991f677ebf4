"""The contract of a pass and of an analysis.

A pass is a class with a stable text ``name``, a one-line ``description``, typed ``Options``
(a dataclass whose fields have defaults), the analyses it ``requires`` and those it
``preserves``, and a ``run`` method that changes the model in place and returns whether it
changed anything::

    @dataclasses.dataclass
    class DceOptions:
        keep_unused_inputs: bool = True

    class EliminateDeadCode(Pass):
        name = "eliminate-dead-code"
        description = "Remove ops whose results nobody reads."
        Options = DceOptions

        def run(self, model: Model, ctx: PassContext) -> bool:
            ...

Passes keep no state between runs and use no globals: everything a compile shares lives in
the :class:`PassContext`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from qcompiler.errors import PassError, PipelineError
from qcompiler.ir import Model

__all__ = ["Pass", "Analysis", "PassContext", "NoOptions", "OptionSpec", "option_specs",
           "parse_option_value", "format_option_value"]  # fmt: skip


@dataclass
class NoOptions:
    """Options of a pass that takes none."""


@dataclass(frozen=True)
class OptionSpec:
    """One declared option: its name, Python type, default and help text."""

    name: str
    type: Any
    default: Any
    help: str = ""

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list[{_type_name(args[0]) if args else 'str'}]"
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_name(args[0]) + "?"
    return getattr(tp, "__name__", str(tp))


def option_specs(options_cls: type) -> list[OptionSpec]:
    """The declared options of an ``Options`` dataclass, in declaration order."""
    hints = typing.get_type_hints(options_cls)
    specs = []
    for f in dataclasses.fields(options_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"option {f.name!r} of {options_cls.__qualname__} needs a default")
        specs.append(OptionSpec(f.name, hints[f.name], default, f.metadata.get("help", "")))
    return specs


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_option_value(tp: Any, text: str) -> Any:
    """Convert option text to ``tp``; raises ``ValueError`` with what is allowed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.lower() in ("none", ""):
            return None
        return parse_option_value(args[0], text)
    if origin is Literal:
        choices = typing.get_args(tp)
        for c in choices:
            if str(c).lower() == text.lower():
                return c
        raise ValueError(f"must be one of {', '.join(map(str, choices))}")
    if origin in (list, tuple):
        (item,) = typing.get_args(tp) or (str,)
        body = text.strip()
        if body.startswith("[") and body.endswith("]"):
            body = body[1:-1]
        items = [s.strip() for s in body.split(",") if s.strip()] if body.strip() else []
        values = [parse_option_value(item, s) for s in items]
        return values if origin is list else tuple(values)
    if tp is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("must be true or false")
    if tp is int:
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError("must be an integer") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("must be a number") from None
    if tp is str:
        return text
    raise ValueError(f"options of type {_type_name(tp)} cannot be given as text")


def format_option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_option_value(v) for v in value) + "]"
    if value is None:
        return "none"
    return str(value)


class PassContext:
    """What one compile shares between passes: config, data, analyses, diagnostics.

    Attributes:
        config: the quantization config (``qcompiler.config.QuantConfig``) or ``None``.
        calib_data: the calibration set or ``None``.
        registry: the :class:`qcompiler.registry.Registry` in use.
        analyses: cached analysis results by name (managed by the pass manager).
        warnings: user-facing warnings collected during the compile.
        options: free-form compile options (``progress``, ``cache_dir``, ``debug``...).
        state: per-compile data passes hand to later passes (e.g. calibration statistics).
    """

    def __init__(self, *, config: Any = None, calib_data: Any = None, registry: Any = None,
                 options: dict[str, Any] | None = None):  # fmt: skip
        self.config = config
        self.calib_data = calib_data
        self.registry = registry
        self.analyses: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.options: dict[str, Any] = dict(options or {})
        self.state: dict[str, Any] = {}

    def warn(self, message: str) -> None:
        """Record a one-line warning for the user (printed by the CLI)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def get_analysis(self, name: str, model: Model) -> Any:
        """The result of analysis ``name`` on ``model``, computed once and cached."""
        if name not in self.analyses:
            if self.registry is None:
                raise PipelineError(f"analysis {name!r} requested but no registry is set")
            analysis_cls = self.registry.analysis(name)
            self.analyses[name] = analysis_cls().compute(model, self)
        return self.analyses[name]

    def invalidate(self, keep: tuple[str, ...] | frozenset[str] = ()) -> None:
        for name in list(self.analyses):
            if name not in keep:
                del self.analyses[name]


class Analysis:
    """A cached fact about the model (shapes, use counts, calibration statistics...)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def compute(self, model: Model, ctx: PassContext) -> Any:
        raise NotImplementedError


class Pass:
    """Base class of every pass; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    #: Analyses computed (if not cached) before ``run``; available via ``ctx.get_analysis``.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Analyses that stay valid even when the pass changes the model.
    preserves: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not dataclasses.is_dataclass(cls.Options):
            raise TypeError(f"{cls.__qualname__}.Options must be a dataclass")

    @classmethod
    def option_specs(cls) -> list[OptionSpec]:
        return option_specs(cls.Options)

    def run(self, model: Model, ctx: PassContext) -> bool:
        """Change ``model`` in place; return True when anything changed."""
        raise NotImplementedError

    def __call__(self, model: Model, ctx: PassContext) -> bool:
        """Run the pass with its declared contract checked."""
        for analysis in self.requires:
            ctx.get_analysis(analysis, model)
        changed = self.run(model, ctx)
        if not isinstance(changed, bool):
            raise PassError(f"pass {self.name!r} returned {changed!r}; run() must return a bool "
                            "telling whether it changed the model")  # fmt: skip
        if changed:
            ctx.invalidate(frozenset(self.preserves))
        return changed


field = field  # re-exported so pass modules can write ``field(default=..., metadata=...)``
