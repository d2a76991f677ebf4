"""Pipelines as text: ``fold-constants,fuse-conv-bn-act,insert-fake-quant{bits=8,per_channel=true}``.

Grammar::

    pipeline := "" | entry ("," entry)*
    entry    := NAME ["{" [option ("," option)*] "}"]
    option   := KEY "=" VALUE          VALUE may be a bracketed list: [a,b,c]

A parsed :class:`Pipeline` prints back to canonical text (options at their defaults are left
out, the rest in declaration order), so ``parse(str(p)) == p``.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, fields
from typing import Any

from qcompiler.errors import PipelineError
from qcompiler.pass_base import Pass, format_option_value, parse_option_value

__all__ = ["PipelineEntry", "Pipeline", "parse_pipeline", "split_entries"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class PipelineEntry:
    """One pass of a pipeline with its options and the plugin that registered it."""

    pass_cls: type[Pass]
    options: Any
    plugin: str

    @property
    def name(self) -> str:
        return self.pass_cls.name

    def instantiate(self) -> Pass:
        """A fresh pass with its own deep copy of the options (a pass that changes a list
        option cannot leak it into later runs of the same pipeline)."""
        return self.pass_cls(copy.deepcopy(self.options))

    def __str__(self) -> str:
        default = self.pass_cls.Options()
        parts = []
        for f in fields(self.options):
            value = getattr(self.options, f.name)
            if value != getattr(default, f.name):
                parts.append(f"{f.name}={format_option_value(value)}")
        return self.name + ("{" + ",".join(parts) + "}" if parts else "")


@dataclass(frozen=True)
class Pipeline:
    entries: tuple[PipelineEntry, ...]

    def __str__(self) -> str:
        return ",".join(str(e) for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def split_entries(text: str) -> list[tuple[str, str | None]]:
    """Split pipeline text into ``(name, option_text_or_None)`` pairs."""
    out: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n,":
            i += 1
        if i >= n:
            break
        j = i
        while j < n and text[j] not in ",{":
            if text[j] in "}[]=":
                raise PipelineError(f"pipeline {text!r}: unexpected {text[j]!r} at position {j}")
            j += 1
        name = text[i:j].strip()
        opts = None
        if j < n and text[j] == "{":
            depth, k = 0, j
            while k < n:
                if text[k] in "{[":
                    depth += 1
                elif text[k] in "}]":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if k >= n:
                raise PipelineError(f"pipeline {text!r}: '{{' after {name!r} is never closed")
            opts = text[j + 1 : k]
            j = k + 1
        if not name or not _NAME.match(name):
            raise PipelineError(f"pipeline {text!r}: {name!r} is not a pass name")
        out.append((name, opts))
        i = j
        while i < n and text[i] in " \t\n":
            i += 1
        if i < n and text[i] != ",":
            raise PipelineError(f"pipeline {text!r}: expected ',' after {name!r}, got {text[i]!r}")
    return out


def _split_options(text: str) -> list[tuple[str, str]]:
    items: list[str] = []
    depth, start = 0, 0
    for k, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:k])
            start = k + 1
    items.append(text[start:])
    pairs = []
    for item in items:
        if not item.strip():
            continue
        if "=" not in item:
            raise PipelineError(f"option {item.strip()!r} needs a value (key=value)")
        key, value = item.split("=", 1)
        pairs.append((key.strip(), value.strip()))
    return pairs


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_pipeline(text: str, registry: Any) -> Pipeline:
    """Parse pipeline text against the passes a :class:`~qcompiler.registry.Registry` knows.

    Raises :class:`PipelineError` naming an unknown pass, an unknown option (with the pass's
    options listed) or a bad value (with what is allowed).
    """
    entries = []
    for name, opt_text in split_entries(text or ""):
        info = registry.passes.get(name)
        if info is None:
            known = sorted(registry.passes)
            raise PipelineError(f"unknown pass {name!r} in pipeline{_suggest(name, known)} "
                                "(run 'qcompiler passes' for the list)")  # fmt: skip
        pass_cls, plugin = info
        specs = {s.name: s for s in pass_cls.option_specs()}
        values: dict[str, Any] = {}
        for key, raw in _split_options(opt_text or ""):
            spec = specs.get(key)
            if spec is None:
                allowed = ", ".join(specs) or "none"
                raise PipelineError(f"pass {name!r} has no option {key!r}"
                                    f"{_suggest(key, list(specs))} (options: {allowed})")  # fmt: skip
            if key in values:
                raise PipelineError(f"pass {name!r}: option {key!r} is given twice")
            try:
                values[key] = parse_option_value(spec.type, raw)
            except ValueError as e:
                raise PipelineError(f"pass {name!r}: option {key}={raw!r} {e}") from None
        try:
            options = pass_cls.Options(**values)
        except (ValueError, TypeError) as e:  # an Options __post_init__ rejecting a value
            raise PipelineError(f"pass {name!r}: {e}") from None
        entries.append(PipelineEntry(pass_cls, options, plugin))
    return Pipeline(tuple(entries))
