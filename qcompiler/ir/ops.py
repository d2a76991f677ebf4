"""Operations of the qcompiler IR.

An :class:`Op` is identified by ``(domain, op_type, version)`` and carries typed attributes
(:class:`Attr`).  ONNX ops keep their ONNX semantics; qcompiler's own ops live in the
``qcompiler`` domain (see :data:`QC_DOMAIN`).

Invariants:

* ``op.inputs`` is a tuple; a missing optional input is ``None``.  Inputs change only through
  :meth:`Op.replace_input` (which keeps the operands' use lists right).
* ``op.outputs`` are :class:`~qcompiler.ir.values.Value` objects whose producer is ``op``.
* Control-flow bodies (``If``'s branches, ``Loop``/``Scan`` bodies) are nested
  :class:`~qcompiler.ir.graph.Graph` objects held in ``GRAPH``/``GRAPHS`` attributes; their ops
  may read values of enclosing graphs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qcompiler.ir.types import Type
from qcompiler.ir.values import Value

if TYPE_CHECKING:
    from qcompiler.ir.graph import Graph

__all__ = ["AttrKind", "Attr", "Op", "QC_DOMAIN", "ONNX_DOMAIN"]

ONNX_DOMAIN = ""
#: Domain of qcompiler's own ops (fused conv+activation and the like).
QC_DOMAIN = "qcompiler"


class AttrKind(enum.IntEnum):
    """Attribute kinds, numbered as ``onnx.AttributeProto.AttributeType``."""

    UNDEFINED = 0
    FLOAT = 1
    INT = 2
    STRING = 3
    TENSOR = 4
    GRAPH = 5
    SPARSE_TENSOR = 11
    TYPE_PROTO = 13
    FLOATS = 6
    INTS = 7
    STRINGS = 8
    TENSORS = 9
    GRAPHS = 10
    SPARSE_TENSORS = 12
    TYPE_PROTOS = 14


@dataclass(frozen=True, slots=True)
class Attr:
    """A typed attribute value.

    ``value`` is a Python ``float``/``int``/``str`` (``bytes`` when a STRING is not UTF-8), a
    ``numpy.ndarray`` for TENSOR, a :class:`Graph` for GRAPH, tuples for the list kinds, and
    the serialized proto (``bytes``) for SPARSE_TENSOR and TYPE_PROTO kinds.
    """

    kind: AttrKind
    value: Any

    @classmethod
    def infer(cls, value: Any) -> Attr:
        """Build an attribute from a Python value, choosing the kind as onnx.helper does."""
        from qcompiler.ir.graph import Graph

        if isinstance(value, Attr):
            return value
        if isinstance(value, bool):
            return cls(AttrKind.INT, int(value))
        if isinstance(value, (int, np.integer)):
            return cls(AttrKind.INT, int(value))
        if isinstance(value, (float, np.floating)):
            return cls(AttrKind.FLOAT, float(value))
        if isinstance(value, (str, bytes)):
            return cls(AttrKind.STRING, value)
        if isinstance(value, np.ndarray):
            return cls(AttrKind.TENSOR, value)
        if isinstance(value, Graph):
            return cls(AttrKind.GRAPH, value)
        if isinstance(value, Sequence):
            items = tuple(value)
            if all(isinstance(v, (bool, int, np.integer)) for v in items):
                return cls(AttrKind.INTS, tuple(int(v) for v in items))
            if all(isinstance(v, (int, float, np.integer, np.floating)) for v in items):
                return cls(AttrKind.FLOATS, tuple(float(v) for v in items))
            if all(isinstance(v, (str, bytes)) for v in items):
                return cls(AttrKind.STRINGS, items)
            if all(isinstance(v, np.ndarray) for v in items):
                return cls(AttrKind.TENSORS, items)
            if all(isinstance(v, Graph) for v in items):
                return cls(AttrKind.GRAPHS, items)
        raise TypeError(f"cannot infer an attribute kind for {type(value).__name__}")

    def graphs(self) -> tuple[Graph, ...]:
        if self.kind == AttrKind.GRAPH:
            return (self.value,)
        if self.kind == AttrKind.GRAPHS:
            return tuple(self.value)
        return ()


class Op:
    """An operation: ``outputs = op_type[domain, version](inputs) {attrs}``.

    Create ops through a :class:`~qcompiler.ir.builder.Builder` or insert them with the graph's
    ``append`` / ``insert_before`` / ``insert_after``.  Constructing an op registers it as a
    user of its inputs; an op that never gets inserted must be dropped with :meth:`detach`.
    """

    __slots__ = ("op_type", "domain", "version", "attrs", "name", "doc_string", "meta", "graph",
                 "_inputs", "_outputs", "_prev", "_next")  # fmt: skip

    def __init__(
        self,
        op_type: str,
        inputs: Iterable[Value | None] = (),
        attrs: dict[str, Any] | None = None,
        *,
        domain: str = ONNX_DOMAIN,
        version: int | None = None,
        outputs: Iterable[Value] | None = None,
        num_outputs: int = 1,
        output_types: Sequence[Type | None] | None = None,
        name: str = "",
    ):
        self.op_type = op_type
        self.domain = domain
        #: The opset version of ``domain`` this op follows (``None``: the model's current one).
        self.version = version
        self.attrs: dict[str, Attr] = {k: Attr.infer(v) for k, v in (attrs or {}).items()}
        self.name = name
        self.doc_string = ""
        #: Free-form per-op metadata for passes (e.g. ``skip_quant``); not serialized.
        self.meta: dict[str, Any] = {}
        self.graph: Graph | None = None
        self._prev: Op | None = None
        self._next: Op | None = None
        self._inputs: tuple[Value | None, ...] = tuple(inputs)
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._add_use(self, i)
        if outputs is None:
            types = list(output_types) if output_types is not None else [None] * num_outputs
            outputs = [Value("", t) for t in types]
        self._outputs: tuple[Value, ...] = tuple(outputs)
        for i, out in enumerate(self._outputs):
            if out._producer is not None and out._producer is not self:
                raise ValueError(f"value %{out.name} already has a producer")
            out._producer, out._index = self, i

    # -- operands ---------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[Value, ...]:
        return self._outputs

    @property
    def output(self) -> Value:
        """The single result (raises if the op has several)."""
        if len(self._outputs) != 1:
            raise ValueError(f"{self.op_type} has {len(self._outputs)} outputs")
        return self._outputs[0]

    def input(self, index: int) -> Value | None:
        """Input ``index``, or ``None`` when absent (past the end or an empty optional)."""
        return self._inputs[index] if index < len(self._inputs) else None

    def replace_input(self, index: int, value: Value | None) -> None:
        """Read ``value`` through input slot ``index`` (appending empty slots if needed)."""
        inputs = list(self._inputs)
        while len(inputs) <= index:
            inputs.append(None)
        old = inputs[index]
        if old is not None:
            old._remove_use(self, index)
        inputs[index] = value
        if value is not None:
            value._add_use(self, index)
        self._inputs = tuple(inputs)

    def set_inputs(self, values: Iterable[Value | None]) -> None:
        """Replace the whole input list, keeping use lists right."""
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._remove_use(self, i)
        self._inputs = tuple(values)
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._add_use(self, i)

    def detach(self) -> None:
        """Drop this op's uses of its inputs (for an op removed from, or never put in, a graph)."""
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._remove_use(self, i)

    # -- attributes -------------------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        """The Python value of attribute ``name``, or ``default`` when absent."""
        a = self.attrs.get(name)
        return default if a is None else a.value

    def set_attr(self, name: str, value: Any) -> None:
        self.attrs[name] = Attr.infer(value)

    def regions(self) -> list[Graph]:
        """Nested graphs (control-flow bodies), in attribute-name order."""
        if not self.attrs:
            return []
        return [g for key in sorted(self.attrs) for g in self.attrs[key].graphs()]

    # -- navigation -------------------------------------------------------------------------
    @property
    def prev(self) -> Op | None:
        return self._prev

    @property
    def next(self) -> Op | None:
        return self._next

    def is_a(self, op_type: str, domain: str = ONNX_DOMAIN) -> bool:
        return self.op_type == op_type and self.domain == domain

    @property
    def qualified_type(self) -> str:
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}.{self.op_type}"

    def clone(self, value_map: dict[Value, Value] | None = None) -> Op:
        """A copy of this op reading ``value_map[v]`` for each input ``v`` (or ``v`` itself).

        New result values are created (and added to ``value_map``), named ``""`` so the graph
        names them when the clone is inserted.  Nested graphs are cloned too.
        """
        value_map = {} if value_map is None else value_map
        attrs: dict[str, Attr] = {}
        for key, a in self.attrs.items():
            if a.kind == AttrKind.GRAPH:
                attrs[key] = Attr(a.kind, a.value.clone(value_map))
            elif a.kind == AttrKind.GRAPHS:
                attrs[key] = Attr(a.kind, tuple(g.clone(value_map) for g in a.value))
            else:
                attrs[key] = a
        new = Op(
            self.op_type,
            [None if v is None else value_map.get(v, v) for v in self._inputs],
            attrs,
            domain=self.domain,
            version=self.version,
            output_types=[o.type for o in self._outputs],
            name=self.name,
        )
        new.doc_string = self.doc_string
        new.meta = dict(self.meta)
        for old_out, new_out in zip(self._outputs, new._outputs, strict=False):
            value_map[old_out] = new_out
            new_out.meta = dict(old_out.meta)
        return new

    def __repr__(self) -> str:
        outs = ", ".join(f"%{o.name}" for o in self._outputs)
        ins = ", ".join("_" if v is None else f"%{v.name}" for v in self._inputs)
        return f"Op({outs} = {self.qualified_type}({ins}) name={self.name!r})"
