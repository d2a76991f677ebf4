"""Graphs and models of the qcompiler IR.

A :class:`Graph` holds its inputs, constants, ops (in topological order, as a doubly linked
list so inserting and removing is O(1)) and outputs.  A :class:`Model` wraps the main graph
with what ONNX keeps beside it (opset imports, producer, metadata, functions).

Invariants (checked by :func:`qcompiler.ir.verifier.verify`):

* Ops appear in topological order: every input of an op is a graph input, a constant, an
  outer-scope value, or a result of an earlier op.
* Value names are unique across the model; the graph names unnamed values on insertion.
* Ops are added and removed only through :meth:`Graph.append`, :meth:`Graph.insert_before`,
  :meth:`Graph.insert_after` and :meth:`Graph.remove`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from qcompiler.ir.ops import Op
from qcompiler.ir.types import DType, Shape, TensorType
from qcompiler.ir.values import Value

if TYPE_CHECKING:
    from qcompiler.ir.builder import Builder

__all__ = ["Graph", "Model", "NameTable"]


class NameTable:
    """Model-wide set of used value names, shared by a graph and its subgraphs."""

    __slots__ = ("_used", "_counters")

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._counters: dict[str, int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._used

    def add(self, name: str) -> None:
        self._used.add(name)

    def discard(self, name: str) -> None:
        self._used.discard(name)

    def fresh(self, base: str) -> str:
        """``base`` if unused, else ``base_1``, ``base_2``... (deterministic); reserves it."""
        base = base or "v"
        if base not in self._used:
            self._used.add(base)
            return base
        n = self._counters.get(base, 0)
        while True:
            n += 1
            candidate = f"{base}_{n}"
            if candidate not in self._used:
                self._counters[base] = n
                self._used.add(candidate)
                return candidate


def _as_list(ops: Op | Iterable[Op]) -> list[Op]:
    return [ops] if isinstance(ops, Op) else list(ops)


class Graph:
    """A region: inputs, constants, ops in topological order, outputs.

    Example::

        g = Graph("main")
        x = g.add_input("x", TensorType(DType.FLOAT32, Shape.of([1, 4])))
        with g.builder() as b:
            y = b.op("Relu", x)
        g.add_output(y)
    """

    __slots__ = ("name", "inputs", "outputs", "constants", "doc_string", "parent", "model",
                 "names", "meta", "_head", "_tail", "_len")  # fmt: skip

    def __init__(self, name: str = "main", *, names: NameTable | None = None):
        self.name = name
        #: Graph inputs, in order; change with :meth:`add_input`.
        self.inputs: list[Value] = []
        #: Graph outputs, in order; change with :meth:`add_output` / :meth:`set_output`.
        self.outputs: list[Value] = []
        #: Constant values (ONNX initializers) in insertion order.
        self.constants: dict[Value, None] = {}
        self.doc_string = ""
        #: The op holding this graph as a control-flow body (``None`` for a main graph).
        self.parent: Op | None = None
        #: The model this is the main graph of (``None`` for subgraphs and free graphs).
        self.model: Model | None = None
        self.names = names if names is not None else NameTable()
        self.meta: dict[str, Any] = {}
        self._head: Op | None = None
        self._tail: Op | None = None
        self._len = 0

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Op]:
        """Ops in order.

        Removing the current op while iterating is safe; a rewrite that also removes later ops
        must iterate over a snapshot (``list(graph)``).
        """
        op = self._head
        while op is not None:
            nxt = op._next
            yield op
            op = nxt

    def __reversed__(self) -> Iterator[Op]:
        op = self._tail
        while op is not None:
            prv = op._prev
            yield op
            op = prv

    def __len__(self) -> int:
        return self._len

    @property
    def first(self) -> Op | None:
        return self._head

    @property
    def last(self) -> Op | None:
        return self._tail

    def all_ops(self) -> Iterator[Op]:
        """Every op of this graph and of its nested graphs, depth first, in order."""
        for op in self:
            yield op
            for sub in op.regions():
                yield from sub.all_ops()

    def top(self) -> Graph:
        """The outermost graph enclosing this one."""
        g = self
        while g.parent is not None and g.parent.graph is not None:
            g = g.parent.graph
        return g

    def opset(self, domain: str = "") -> int | None:
        """The opset version the model imports for ``domain`` (``None`` if unknown)."""
        model = self.top().model
        if model is None:
            return None
        return model.opset_imports.get("" if domain == "ai.onnx" else domain)

    # -- values -----------------------------------------------------------------------------
    def _name(self, value: Value, base: str) -> None:
        if value.name and value.name not in self.names:
            self.names.add(value.name)
        else:
            value.name = self.names.fresh(value.name or base)

    def add_input(self, name: str | Value, type: TensorType | None = None) -> Value:
        """Append a graph input (a new value, or an existing unowned one)."""
        value = name if isinstance(name, Value) else Value(name, type)
        self._name(value, "input")
        value._owner = self
        self.inputs.append(value)
        return value

    def add_constant(self, array: Any, name: str = "const", elem=None) -> Value:
        """Add a constant (ONNX initializer) holding ``array`` and return its value.

        ``elem`` overrides the element type (e.g. a :class:`QuantType` for quantized weights).
        """
        arr = np.asarray(array)
        elem = elem if elem is not None else DType.from_numpy(arr.dtype)
        value = Value(name, TensorType(elem, Shape.of(arr.shape)), const=arr)
        self._name(value, "const")
        value._owner = self
        self.constants[value] = None
        return value

    def remove_constant(self, value: Value) -> None:
        """Drop an unused constant."""
        if value.has_uses():
            raise ValueError(f"constant %{value.name} still has uses")
        del self.constants[value]
        value._owner = None
        self.names.discard(value.name)

    def add_output(self, value: Value) -> None:
        self.outputs.append(value)
        value._output_of.append(self)

    def set_output(self, index: int, value: Value) -> None:
        old = self.outputs[index]
        old._output_of.remove(self)
        self.outputs[index] = value
        value._output_of.append(self)

    def swap_names(self, a: Value, b: Value) -> None:
        a.name, b.name = b.name, a.name

    def rename(self, value: Value, name: str) -> None:
        """Give ``value`` the unused name ``name`` (keeping the name table right)."""
        if name in self.names:
            raise ValueError(f"name {name!r} is already used")
        self.names.discard(value.name)
        self.names.add(name)
        value.name = name

    # -- ops --------------------------------------------------------------------------------
    def _adopt(self, op: Op) -> None:
        if op.graph is not None:
            raise ValueError(f"{op!r} is already in a graph")
        op.graph = self
        base = op.name or op.op_type.lower()
        for out in op.outputs:
            self._name(out, base)
        for sub in op.regions():
            sub.parent = op
            self._adopt_region(sub)
        self._len += 1

    def _adopt_region(self, sub: Graph) -> None:
        """Move a nested graph's values into this graph's name table (renaming clashes)."""
        if sub.names is self.names:
            return
        sub.names = self.names
        defined = list(sub.inputs) + list(sub.constants)
        for op in sub:
            defined.extend(op.outputs)
        for v in defined:
            self._name(v, "v")
        for op in sub:
            for inner in op.regions():
                sub._adopt_region(inner)

    def _link_after(self, prev: Op | None, op: Op) -> None:
        nxt = self._head if prev is None else prev._next
        op._prev, op._next = prev, nxt
        if prev is None:
            self._head = op
        else:
            prev._next = op
        if nxt is None:
            self._tail = op
        else:
            nxt._prev = op

    def append(self, ops: Op | Iterable[Op]) -> None:
        """Append ``ops`` at the end of the graph, in order."""
        for op in _as_list(ops):
            self._adopt(op)
            self._link_after(self._tail, op)

    def insert_before(self, anchor: Op, ops: Op | Iterable[Op]) -> None:
        """Insert ``ops`` (in order) right before ``anchor``."""
        if anchor.graph is not self:
            raise ValueError(f"{anchor!r} is not in graph {self.name!r}")
        prev = anchor._prev
        for op in _as_list(ops):
            self._adopt(op)
            self._link_after(prev, op)
            prev = op

    def insert_after(self, anchor: Op, ops: Op | Iterable[Op]) -> None:
        """Insert ``ops`` (in order) right after ``anchor``."""
        if anchor.graph is not self:
            raise ValueError(f"{anchor!r} is not in graph {self.name!r}")
        prev = anchor
        for op in _as_list(ops):
            self._adopt(op)
            self._link_after(prev, op)
            prev = op

    def remove(self, ops: Op | Iterable[Op], *, safe: bool = True) -> None:
        """Remove ``ops`` from the graph, all or nothing.

        With ``safe`` (the default) this raises ``ValueError``, changing nothing, when a result
        of a removed op is still read by an op that stays or is a graph output.
        """
        doomed = _as_list(ops)
        doomed_set = set(doomed)
        for op in doomed:
            if op.graph is not self:
                raise ValueError(f"{op!r} is not in graph {self.name!r}")
        if safe:
            for op in doomed:
                for out in op.outputs:
                    if out.is_graph_output:
                        raise ValueError(f"cannot remove {op!r}: %{out.name} is a graph output")
                    for user, _ in out.uses():
                        if user not in doomed_set and not _inside(user, doomed_set):
                            raise ValueError(f"cannot remove {op!r}: %{out.name} is used by {user!r}")
        for op in doomed:
            op.detach()
            prev, nxt = op._prev, op._next
            if prev is None:
                self._head = nxt
            else:
                prev._next = nxt
            if nxt is None:
                self._tail = prev
            else:
                nxt._prev = prev
            op._prev = op._next = None
            op.graph = None
            self._len -= 1
            for out in op.outputs:
                self.names.discard(out.name)

    def builder(self, *, before: Op | None = None, after: Op | None = None) -> Builder:
        """A :class:`Builder` inserting at the end, or before/after an op."""
        from qcompiler.ir.builder import Builder

        return Builder(self, before=before, after=after)

    @contextlib.contextmanager
    def inserting_before(self, anchor: Op) -> Iterator[Builder]:
        yield self.builder(before=anchor)

    @contextlib.contextmanager
    def inserting_after(self, anchor: Op) -> Iterator[Builder]:
        yield self.builder(after=anchor)

    def clone(self, value_map: dict[Value, Value] | None = None) -> Graph:
        """A deep copy; ``value_map`` maps outer-scope values the copy should read instead."""
        value_map = {} if value_map is None else value_map
        g = Graph(self.name)
        g.doc_string = self.doc_string
        g.meta = dict(self.meta)
        for v in self.inputs:
            nv = g.add_input(Value(v.name, v.type))
            nv.meta = dict(v.meta)
            value_map[v] = nv
        for c in self.constants:
            nc = g.add_constant(c.const, c.name, elem=c.tensor_type.elem if c.tensor_type else None)
            nc.type = c.type
            nc.meta = dict(c.meta)
            value_map[c] = nc
        for op in self:
            new = op.clone(value_map)
            for o_old, o_new in zip(op.outputs, new.outputs, strict=False):
                o_new.name = o_old.name
            g.append(new)
        for out in self.outputs:
            g.add_output(value_map.get(out, out))
        return g

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.inputs)} inputs, {self._len} ops)"


def _inside(op: Op, doomed: set[Op]) -> bool:
    """True when ``op`` sits in a nested graph of one of ``doomed``."""
    g = op.graph
    while g is not None and g.parent is not None:
        if g.parent in doomed:
            return True
        g = g.parent.graph
    return False


class Model:
    """A main graph plus the model-level data ONNX keeps beside it."""

    __slots__ = ("graph", "opset_imports", "ir_version", "producer_name", "producer_version",
                 "domain", "model_version", "doc_string", "metadata_props", "functions",
                 "meta")  # fmt: skip

    def __init__(self, graph: Graph, opset_imports: dict[str, int] | None = None, *,
                 ir_version: int = 10):  # fmt: skip
        self.graph = graph
        graph.model = self
        #: Domain -> opset version; the default ONNX domain is ``""``.
        self.opset_imports: dict[str, int] = dict(opset_imports or {"": 17})
        self.ir_version = ir_version
        self.producer_name = "qcompiler"
        self.producer_version = ""
        self.domain = ""
        self.model_version = 0
        self.doc_string = ""
        self.metadata_props: dict[str, str] = {}
        #: Model-local functions, carried through as serialized ``onnx.FunctionProto`` bytes.
        self.functions: list[bytes] = []
        #: Free-form model-level metadata for passes; not serialized.
        self.meta: dict[str, Any] = {}

    def clone(self) -> Model:
        m = Model(self.graph.clone(), self.opset_imports, ir_version=self.ir_version)
        for key in ("producer_name", "producer_version", "domain", "model_version",
                    "doc_string"):  # fmt: skip
            setattr(m, key, getattr(self, key))
        m.metadata_props = dict(self.metadata_props)
        m.functions = list(self.functions)
        m.meta = dict(self.meta)
        return m

    def __repr__(self) -> str:
        return f"Model({self.graph!r}, opsets={self.opset_imports})"
