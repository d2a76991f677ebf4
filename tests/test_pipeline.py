"""Pipeline text: parsing, typed options, canonical printing and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from qcompiler.errors import PipelineError
from qcompiler.hookspecs import hookimpl
from qcompiler.pass_base import Pass
from qcompiler.pipeline import parse_pipeline
from qcompiler.registry import load_registry


@dataclass
class TypedOptions:
    flag: bool = False
    count: int = 3
    ratio: float = 0.5
    names: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    mode: Literal["fast", "exact"] = "fast"
    limit: int | None = None


class TypedPass(Pass):
    name = "typed"
    description = "Options of every kind; changes nothing."
    Options = TypedOptions

    def run(self, model, ctx):
        return False


class Plugin:
    @staticmethod
    @hookimpl
    def qcompiler_register_passes():
        return [TypedPass]


@pytest.fixture(scope="module")
def reg():
    return load_registry([Plugin()])


def test_options_are_typed(reg):
    p = parse_pipeline("typed{flag=yes, count=0x10, ratio=1e-3, names=[a, b], sizes=[4,5,6], mode=EXACT, "
                       "limit=7}", reg)  # fmt: skip
    o = p.entries[0].options
    assert (o.flag, o.count, o.ratio, o.names, o.sizes, o.mode, o.limit) == (
        True, 16, 0.001, ["a", "b"], [4, 5, 6], "exact", 7)
    assert type(o.flag) is bool and type(o.count) is int and type(o.ratio) is float
    assert all(type(s) is int for s in o.sizes)
    assert parse_pipeline("typed{flag=off,limit=none,names=[]}", reg).entries[0].options == TypedOptions()


@pytest.mark.parametrize("text", [
    "",
    "typed",
    "typed{flag=true,count=7,ratio=0.25,names=[a,b]},fold-constants,typed",
    "typed{sizes=[],mode=exact,limit=3}",
    "fold-constants{max_bytes=1024},eliminate-dead-code",
])  # fmt: skip
def test_print_parse_round_trip(reg, text):
    p = parse_pipeline(text, reg)
    assert str(p) == text
    assert parse_pipeline(str(p), reg) == p


def test_every_default_pipeline_round_trips(reg):
    assert {"float", "full-quant", "weight-quant"} <= set(reg.pipelines)
    for mode, (text, _plugin) in reg.pipelines.items():
        p = parse_pipeline(text, reg)
        assert len(p) >= 2, mode
        assert parse_pipeline(str(p), reg) == p, mode


def test_canonical_text(reg):
    # Spaces and newlines are ignored, defaults are dropped, options print in declaration order.
    p = parse_pipeline(" typed { mode=fast, count=3, ratio=2 , flag=1 } ,\n fold-constants ", reg)
    assert str(p) == "typed{flag=true,ratio=2.0},fold-constants"
    assert p.names() == ["typed", "fold-constants"]
    assert len(parse_pipeline("", reg)) == 0 and len(parse_pipeline(" , ", reg)) == 0


def test_each_entry_knows_its_plugin(reg):
    p = parse_pipeline("typed,fold-constants", reg)
    assert [e.plugin for e in p] == ["Plugin", "qcompiler:builtin-passes"]


def test_instances_get_their_own_options(reg):
    entry = parse_pipeline("typed{names=[a]}", reg).entries[0]
    first = entry.instantiate()
    first.options.names.append("changed")
    assert entry.options.names == ["a"] and entry.instantiate().options.names == ["a"]


@pytest.mark.parametrize("text, needle", [
    ("nope", "unknown pass 'nope'"),
    ("typd", "did you mean 'typed'"),
    ("typed{colour=1}", "has no option 'colour'"),
    ("typed{cont=1}", "did you mean 'count'"),
    ("typed{count=x}", "count='x' must be an integer"),
    ("typed{ratio=fast}", "must be a number"),
    ("typed{flag=maybe}", "true or false"),
    ("typed{mode=slow}", "must be one of fast, exact"),
    ("typed{sizes=[1,b]}", "must be an integer"),
    ("typed{count=1,count=2}", "given twice"),
    ("typed{count}", "needs a value"),
    ("typed{count=1", "never closed"),
    ("typed count", "not a pass name"),
    ("typed}", "unexpected '}'"),
    ("typed{count=1}x", "expected ','"),
])  # fmt: skip
def test_pipeline_errors(reg, text, needle):
    with pytest.raises(PipelineError, match=needle) as info:
        parse_pipeline(text, reg)
    assert "\n" not in str(info.value)
