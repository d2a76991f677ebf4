"""Values of the qcompiler IR.

Invariants (checked by :func:`qcompiler.ir.verifier.verify`):

* A value is defined exactly once: it is a graph input, a constant (``const`` is set and the
  value is registered in its graph's ``constants``), or result ``index`` of exactly one op.
* ``uses()`` lists every ``(op, input_index)`` that reads the value, in the order they were
  added; an op's inputs and its operands' use lists always agree.  They change only through
  :meth:`Op.replace_input`, :meth:`Value.replace_all_uses_with` and the graph's insert / remove
  methods: never edit them by hand.
* Names are unique within a model (subgraphs included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qcompiler.ir.types import DType, QuantType, Shape, TensorType, Type

if TYPE_CHECKING:
    from qcompiler.ir.graph import Graph
    from qcompiler.ir.ops import Op

__all__ = ["Value", "Use"]

#: A use of a value: the op that reads it and the input slot it reads it through.
Use = tuple["Op", int]


class Value:
    """An SSA value: a graph input, a constant, or an op result.

    Example::

        x = Value("x", TensorType(DType.FLOAT32, Shape.of([1, 3, "H", "W"])))
    """

    __slots__ = ("name", "type", "const", "meta", "_producer", "_index", "_uses", "_owner",
                 "_output_of")  # fmt: skip

    def __init__(self, name: str, type: Type | None = None, const: np.ndarray | None = None):
        self.name = name
        self.type: Type | None = type
        #: The data of a constant value (an ONNX initializer); ``None`` for other values.
        self.const = const
        #: Free-form per-value metadata for passes (e.g. calibration ranges); not serialized.
        self.meta: dict[str, Any] = {}
        self._producer: Op | None = None
        self._index = -1
        self._uses: dict[Use, None] = {}
        #: The graph this value is an input or constant of (``None`` for op results).
        self._owner: Graph | None = None
        #: Graphs this value is an output of.
        self._output_of: list[Graph] = []

    # -- definition -------------------------------------------------------------------------
    def producer(self) -> Op | None:
        """The op this value is a result of, or ``None`` for inputs and constants."""
        return self._producer

    @property
    def index(self) -> int:
        """Result index within the producing op (``-1`` if not an op result)."""
        return self._index

    @property
    def is_constant(self) -> bool:
        return self.const is not None

    @property
    def is_graph_input(self) -> bool:
        return self._owner is not None and self.const is None and self in self._owner.inputs

    @property
    def is_graph_output(self) -> bool:
        return bool(self._output_of)

    def graph(self) -> Graph | None:
        """The graph that defines this value."""
        if self._producer is not None:
            return self._producer.graph
        return self._owner

    # -- uses -------------------------------------------------------------------------------
    def uses(self) -> list[Use]:
        """All ``(op, input_index)`` pairs reading this value, in insertion order."""
        return list(self._uses)

    def users(self) -> list[Op]:
        """The distinct ops reading this value, in order of first use."""
        return list(dict.fromkeys(op for op, _ in self._uses))

    def has_uses(self) -> bool:
        return bool(self._uses) or bool(self._output_of)

    def _add_use(self, op: Op, index: int) -> None:
        self._uses[(op, index)] = None

    def _remove_use(self, op: Op, index: int) -> None:
        self._uses.pop((op, index), None)

    def replace_all_uses_with(self, new: Value, *, keep_output_name: bool = True,
                              exclude: tuple[Op, ...] | list[Op] = ()) -> None:  # fmt: skip
        """Make every reader of ``self`` read ``new`` instead, graph outputs included.

        When ``self`` is a graph output, ``new`` is an op result and ``keep_output_name`` is true,
        the two values swap names, so the model's output keeps the name users call it by.
        Ops in ``exclude`` keep reading ``self`` (e.g. the op that computes ``new`` from it).
        """
        if new is self:
            return
        for op, index in list(self._uses):
            if op not in exclude:
                op.replace_input(index, new)
        for graph in list(self._output_of):
            for i, out in enumerate(graph.outputs):
                if out is self:
                    graph.set_output(i, new)
            # Swap names so the graph output keeps its public name; inputs and constants keep
            # theirs (renaming a model input would break callers just the same).
            if keep_output_name and new._producer is not None and len(new._output_of) == 1:
                self.name, new.name = new.name, self.name
            # The new value stands for the same tensor: keep the declared output type when
            # the new one knows less (the model's interface keeps its shapes).
            old_t, new_t = self.type, new.type
            if old_t is not None and (new_t is None or (getattr(new_t, "shape", None) is not None
                                                         and new_t.shape.dims is None
                                                         and getattr(old_t, "shape", None) is not None
                                                         and old_t.shape.dims is not None)):  # fmt: skip
                new.type = old_t if new_t is None else new_t.with_shape(old_t.shape)

    # -- types ------------------------------------------------------------------------------
    @property
    def tensor_type(self) -> TensorType | None:
        return self.type if isinstance(self.type, TensorType) else None

    @property
    def dtype(self) -> DType | None:
        t = self.tensor_type
        return t.dtype if t is not None else None

    @property
    def shape(self) -> Shape | None:
        t = self.tensor_type
        return t.shape if t is not None else None

    @property
    def quant(self) -> QuantType | None:
        t = self.tensor_type
        return t.quant if t is not None else None

    def __repr__(self) -> str:
        return f"Value(%{self.name}: {self.type})"
