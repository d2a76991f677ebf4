"""The ONNX frontend: ``.onnx`` files and ``ModelProto`` objects to the IR.

Steps, each a named function: :func:`read_model` (bytes, external data, clear errors),
:func:`check_structure` (domains, duplicate names, undefined inputs, cycles; sorts nodes),
:func:`check_schemas` (onnx's checker: known ops, arities, attributes),
:func:`bind_input_shapes` (``--input-shape``), :func:`infer_shapes` (onnx, symbolic dims),
:func:`fold_shape_subgraphs` (Constant, ConstantOfShape and shape-only subgraphs, through
onnx-graphsurgeon), and :func:`proto_to_ir`.  The caller's file and proto are never modified.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from qcompiler.errors import ModelLoadError
from qcompiler.frontend.big_weights import infer_shapes_light
from qcompiler.frontend.contrib import lower_contrib_ops
from qcompiler.frontend.einsum import lower_einsum
from qcompiler.frontend.legacy import lower_legacy_ops
from qcompiler.frontend.qoperator import lower_dynamic_quant, lower_qoperator
from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Attr, AttrKind, DType, Graph, Model, Op, OpaqueType, Shape, TensorType
from qcompiler.ir.graph import NameTable
from qcompiler.ir.types import QuantType, Type
from qcompiler.ir.values import Value
from qcompiler.utils import paused_gc

__all__ = ["load_onnx", "proto_to_ir", "read_model", "check_structure", "bind_input_shapes",
           "check_schemas", "infer_shapes", "fold_shape_subgraphs", "type_from_proto", "OnnxFrontend"]  # fmt: skip

_ONNX_DOMAINS = ("", "ai.onnx")


# -- reading ------------------------------------------------------------------------------------
def read_model(source: str | os.PathLike | onnx.ModelProto | bytes) -> tuple[onnx.ModelProto, str]:
    """Read a model into a fresh ``ModelProto`` (with external data loaded).

    Returns the proto and a label for messages (the path, or ``<ModelProto>``).
    """
    if isinstance(source, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(source)
        label = "<ModelProto>"
        base = None
    elif isinstance(source, (bytes, bytearray)):
        model, label, base = _parse(bytes(source), "<bytes>"), "<bytes>", None
    else:
        path = Path(source)
        label = str(source)
        if not path.exists():
            raise ModelLoadError(f"{label}: no such file")
        if path.is_dir():
            raise ModelLoadError(f"{label}: is a directory, expected an .onnx file")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(f"{label}: cannot read: {e.strerror or e}") from e
        model = _parse(data, label)
        base = str(path.parent)
    if not model.HasField("graph") or not model.opset_import and model.ir_version == 0:
        raise ModelLoadError(f"{label}: not an ONNX model (no graph or opset import)")
    if model.ir_version == 0 or model.ir_version > 64:
        raise ModelLoadError(f"{label}: not an ONNX model (ir_version {model.ir_version})")
    if any(onnx.external_data_helper.uses_external_data(t)
           for t in onnx.external_data_helper._get_all_tensors(model)):  # fmt: skip
        if base is None:
            raise ModelLoadError(f"{label}: the model references external data; load it from its "
                                 "file path so the data files can be found")  # fmt: skip
        _load_external(model, base, label)
    return model, label


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    if not data:
        raise ModelLoadError(f"{label}: empty file, not an ONNX model")
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelLoadError(f"{label}: not a valid ONNX model (protobuf decode failed: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                             "is the file truncated?") from e  # fmt: skip
    return model


def _load_external(model: onnx.ModelProto, base: str, label: str) -> None:
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        if onnx.external_data_helper.uses_external_data(tensor):
            info = onnx.external_data_helper.ExternalDataInfo(tensor)
            target = Path(base) / info.location
            if not target.is_file():
                raise ModelLoadError(f"{label}: external data file {info.location!r} of tensor "
                                     f"{tensor.name!r} not found next to the model")  # fmt: skip
    try:
        onnx.external_data_helper.load_external_data_for_model(model, base)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{label}: cannot load external data: {e}") from e


# -- structure ----------------------------------------------------------------------------------
def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"node {node.name!r} ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


def _subgraph_reads(node: onnx.NodeProto) -> list[str]:
    """Names a node's nested graphs read from enclosing scopes."""
    reads: list[str] = []
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            local = {i.name for i in g.input} | {t.name for t in g.initializer}
            local |= {t.values.name for t in g.sparse_initializer}
            for n in g.node:
                for name in list(n.input) + _subgraph_reads(n):
                    if name and name not in local:
                        reads.append(name)
                local.update(o for o in n.output if o)
            reads.extend(o.name for o in g.output if o.name not in local)
    return reads


def check_structure(model: onnx.ModelProto, label: str) -> None:
    """Check domains, opsets, unique names, defined inputs and acyclicity; sort nodes in place."""
    domains = {op.domain for op in model.opset_import}
    if "" not in domains and "ai.onnx" not in domains:
        raise ModelLoadError(f"{label}: the model imports no ONNX opset (opset_import lacks the "
                             "default domain)")  # fmt: skip
    newest = onnx.defs.onnx_opset_version()
    for o in model.opset_import:
        if o.domain in _ONNX_DOMAINS and o.version > newest:
            raise ModelLoadError(f"{label}: the model imports ONNX opset {o.version}, newer than "
                                 f"the newest this installation knows ({newest})")  # fmt: skip
    _check_graph(model.graph, label, domains, outer=(), top=True)


def _defined_in(name: str, scopes: Sequence[set[str]]) -> bool:
    return any(name in s for s in scopes)


def _check_graph(graph: onnx.GraphProto, label: str, domains: set[str],
                 outer: tuple[set[str], ...], top: bool) -> None:  # fmt: skip
    """Check one graph; ``outer`` is the chain of enclosing scopes (never copied, so a model
    with many control-flow bodies is checked in linear time)."""
    defined: dict[str, str] = {}
    for i in graph.input:
        defined.setdefault(i.name, "graph input")
    for t in graph.initializer:
        if t.name in defined and defined[t.name] == "initializer":
            raise ModelLoadError(f"{label}: initializer {t.name!r} is defined twice")
        defined[t.name] = "initializer"
    for t in graph.sparse_initializer:
        defined[t.values.name] = "initializer"
    producers: dict[str, int] = {}
    for idx, node in enumerate(graph.node):
        if node.domain not in domains and not (node.domain == "ai.onnx" and "" in domains):
            raise ModelLoadError(f"{label}: {_node_label(node, idx)} uses domain {node.domain!r}, "
                                 "which the model does not import (add it to opset_import)")  # fmt: skip
        for out in node.output:
            if not out:
                continue
            if out in producers:
                other = graph.node[producers[out]]
                raise ModelLoadError(f"{label}: value name {out!r} is produced twice (by "
                                     f"{_node_label(other, producers[out])} and "
                                     f"{_node_label(node, idx)})")  # fmt: skip
            if out in defined:
                raise ModelLoadError(f"{label}: {_node_label(node, idx)} output {out!r} redefines "
                                     f"a {defined[out]}")  # fmt: skip
            producers[out] = idx
    local = set(defined)
    local.update(producers)
    scopes = (*outer, local)
    for idx, node in enumerate(graph.node):
        for name in list(node.input) + _subgraph_reads(node):
            if name and not _defined_in(name, scopes):
                raise ModelLoadError(f"{label}: {_node_label(node, idx)} reads {name!r}, which no "
                                     "node, initializer or graph input defines")  # fmt: skip
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _check_graph(g, label, domains, scopes, top=False)
    for o in graph.output:
        if not _defined_in(o.name, scopes):
            raise ModelLoadError(f"{label}: graph output {o.name!r} is not produced by any node")
    _toposort(graph, producers, label)


def _toposort(graph: onnx.GraphProto, producers: dict[str, int], label: str) -> None:
    """Kahn's algorithm, stable (keeps the file's order when it is already topological)."""
    n = len(graph.node)
    deps: list[set[int]] = []
    in_order = True
    for idx, node in enumerate(graph.node):
        d = {producers[name] for name in list(node.input) + _subgraph_reads(node)
             if name in producers}  # fmt: skip
        deps.append(d)
        if in_order and any(p >= idx for p in d):
            in_order = False
    if in_order:  # the usual case: the file is already in topological order
        return
    users: list[list[int]] = [[] for _ in range(n)]
    for idx, d in enumerate(deps):
        for p in d:
            users[p].append(idx)
    indeg = [len(d) for d in deps]
    ready = [i for i in range(n) if indeg[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != n:
        stuck = [_node_label(graph.node[i], i) for i in range(n) if indeg[i] > 0][:3]
        raise ModelLoadError(f"{label}: the graph has a cycle through {', '.join(stuck)}")
    if order != list(range(n)):
        nodes = [graph.node[i] for i in order]
        copies = []
        for node in nodes:
            c = onnx.NodeProto()
            c.CopyFrom(node)
            copies.append(c)
        del graph.node[:]
        graph.node.extend(copies)


# -- shapes -------------------------------------------------------------------------------------
def bind_input_shapes(model: onnx.ModelProto, shapes: Mapping[str, Sequence[int]], label: str) -> None:  # noqa: E501
    """Set graph input dims (``--input-shape NAME:D0,D1,...``); drops stale inferred shapes."""
    if not shapes:
        return
    inputs = {i.name: i for i in model.graph.input}
    initializers = {t.name for t in model.graph.initializer}
    real = [n for n in inputs if n not in initializers]
    for name, dims in shapes.items():
        if name not in inputs or name in initializers:
            raise ModelLoadError(f"{label}: --input-shape names {name!r}, which is not a model "
                                 f"input (inputs: {', '.join(real) or 'none'})")  # fmt: skip
        t = inputs[name].type.tensor_type
        old = list(t.shape.dim) if t.HasField("shape") else None
        if old is not None and len(old) != len(dims):
            raise ModelLoadError(f"{label}: --input-shape {name}:{','.join(map(str, dims))} has rank "
                                 f"{len(dims)}, but input {name!r} has rank {len(old)}")  # fmt: skip
        for k, d in enumerate(dims):
            if int(d) <= 0:
                raise ModelLoadError(f"{label}: --input-shape {name}: dim {k} must be positive, got {d}")
            if old is not None and old[k].HasField("dim_value") and old[k].dim_value != int(d):
                raise ModelLoadError(f"{label}: --input-shape {name}: dim {k} is fixed to "
                                     f"{old[k].dim_value} in the model, got {d}")  # fmt: skip
        t.shape.Clear()
        for d in dims:
            t.shape.dim.add().dim_value = int(d)
    del model.graph.value_info[:]
    for o in model.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")


def check_schemas(model: onnx.ModelProto, label: str) -> None:
    """Run onnx's checker (ops known, input/output counts, attributes) on the input model.

    A model the checker rejects could never be written, so it is reported here, naming the
    input file, rather than when the output is written.
    """
    if model.ByteSize() >= 2**31 - 1:
        return  # the checker needs a path for models over 2 GB; the writer checks the output
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
        msg = lines[0] if lines else type(e).__name__
        ctx = next((ln for ln in lines if ln.startswith("==> Context:")), "")
        where = re.search(r"Name:\s*(\S*)\s+OpType:\s*(\S+)", ctx)
        if where:  # name the node, as every other load error does
            node = f"node {where.group(1)!r}" if where.group(1) else "a node"
            msg = f"{node} ({where.group(2)}): {msg}"
        raise ModelLoadError(f"{label}: invalid ONNX model: {msg}") from e


#: Strict shape-inference errors that mean the model itself is wrong (not just that onnx
#: cannot infer something, which is common for function ops and contrib ops).
_FATAL_INFERENCE = ("Incompatible dimensions", "Inferred shape and existing shape differ",
                    "Inferred elem type differs from existing elem type")  # fmt: skip


def infer_shapes(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """onnx shape inference with data propagation; a model it cannot handle keeps its types.

    Shapes that contradict each other (an ``Add`` of ``[1,3]`` and ``[4]``, a bound input shape
    a ``Reshape`` cannot take) are a :class:`ModelLoadError`.
    """
    for strict in (True, False):
        try:
            inferred = infer_shapes_light(model, check_type=False, strict_mode=strict, data_prop=True)
            if len(inferred.graph.initializer) != len(model.graph.initializer):  # big ones left out
                del inferred.graph.input[:]
                inferred.graph.input.extend(model.graph.input)
                del inferred.graph.initializer[:]
                inferred.graph.initializer.extend(model.graph.initializer)
            return inferred
        except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError,
                RuntimeError) as e:  # fmt: skip
            text = str(e).strip()
            if any(p in text for p in _FATAL_INFERENCE):
                detail = next((ln.strip() for ln in text.splitlines()
                               if any(p in ln for p in _FATAL_INFERENCE)), text.splitlines()[0])  # fmt: skip
                raise ModelLoadError(f"{label}: shapes do not agree: {' '.join(detail.split())}") from e
        except ValueError:  # models over 2 GB
            return model
    return model


#: Rounds of shape folding at most (each round's inference can feed the next).
_FOLD_ROUNDS = 8
_FOLDABLE_HEADS = {"ConstantOfShape", "Shape", "Size"}  # Constant nodes become constants on import
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                onnx.TensorProto.DOUBLE}  # fmt: skip


def _has_shape_work(graph: onnx.GraphProto) -> bool:
    for node in graph.node:
        if node.op_type in _FOLDABLE_HEADS and node.domain in _ONNX_DOMAINS:
            return True
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                if _has_shape_work(g):
                    return True
    return False


def fold_shape_subgraphs(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """Fold Constant, ConstantOfShape and shape-only (integer) subgraphs with onnx-graphsurgeon.

    Float computations on constants are left to the ``fold-constants`` pass, and Q/DQ nodes are
    never folded, so quantization structure survives.  Returns a new proto (or ``model``).
    """
    if not _has_shape_work(model.graph):
        return model
    import onnx_graphsurgeon as gs

    def exclude(node) -> bool:
        if node.op in ("Constant", "ConstantOfShape"):
            return False
        for out in node.outputs:
            dtype = getattr(out, "dtype", None)
            if dtype is None:
                return True
            try:
                if onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)) in _FLOAT_TYPES:
                    return True
            except (TypeError, ValueError, KeyError):
                return True
        return False

    def fold(partitioning: str | None):
        graph = gs.import_onnx(model)
        graph.fold_constants(fold_shapes=True, recurse_subgraphs=True, partitioning=partitioning,
                             error_ok=partitioning is not None, flatten_subgraphs=False,
                             should_exclude_node=exclude)  # fmt: skip
        graph.cleanup(remove_unused_graph_inputs=False)
        return gs.export_onnx(graph, do_type_check=False)

    # One onnxruntime session over every foldable value first; only when that fails, graphsurgeon's
    # "recursive" partitioning, which copies the whole graph once per folded output (half a minute
    # on Swin-T's hundreds of shape subgraphs) but peels off the nodes that cannot run.
    try:
        folded = fold(None)
    except Exception:  # noqa: BLE001 - retried node by node below
        try:
            folded = fold("recursive")
        except Exception:  # noqa: BLE001 - folding is an optimisation; the unfolded model is valid
            return model
    # Keep model-level fields graphsurgeon does not carry.
    folded.ir_version = model.ir_version
    del folded.opset_import[:]
    folded.opset_import.extend(model.opset_import)
    for key in ("producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(folded, key, getattr(model, key))
    del folded.metadata_props[:]
    folded.metadata_props.extend(model.metadata_props)
    if len(folded.graph.output) != len(model.graph.output) or any(
        a.name != b.name for a, b in zip(folded.graph.output, model.graph.output, strict=False)
    ) or [i.name for i in folded.graph.input] != [i.name for i in model.graph.input]:
        return model
    return infer_shapes(folded, label)


# -- proto to IR --------------------------------------------------------------------------------
def type_from_proto(tp: onnx.TypeProto) -> Type | None:
    """TypeProto to an IR type (``None`` when the proto says nothing)."""
    which = tp.WhichOneof("value")
    if which is None:
        return None
    if which != "tensor_type":
        return OpaqueType.from_proto(tp)
    tt = tp.tensor_type
    if tt.elem_type == 0:
        return None
    shape = Shape(None)
    if tt.HasField("shape"):
        dims: list[int | str | None] = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
        shape = Shape(tuple(dims))
    return TensorType(DType(tt.elem_type), shape)


def _tensor_to_array(t: onnx.TensorProto) -> np.ndarray:
    return numpy_helper.to_array(t)


def _attr_from_proto(a: onnx.AttributeProto, builder: _GraphImporter) -> Attr:
    k = a.type
    A = onnx.AttributeProto
    if k == A.FLOAT:
        return Attr(AttrKind.FLOAT, float(a.f))
    if k == A.INT:
        return Attr(AttrKind.INT, int(a.i))
    if k == A.STRING:
        return Attr(AttrKind.STRING, _decode(a.s))
    if k == A.TENSOR:
        return Attr(AttrKind.TENSOR, _tensor_to_array(a.t))
    if k == A.GRAPH:
        return Attr(AttrKind.GRAPH, builder.subgraph(a.g))
    if k == A.FLOATS:
        return Attr(AttrKind.FLOATS, tuple(float(x) for x in a.floats))
    if k == A.INTS:
        return Attr(AttrKind.INTS, tuple(int(x) for x in a.ints))
    if k == A.STRINGS:
        return Attr(AttrKind.STRINGS, tuple(_decode(s) for s in a.strings))
    if k == A.TENSORS:
        return Attr(AttrKind.TENSORS, tuple(_tensor_to_array(t) for t in a.tensors))
    if k == A.GRAPHS:
        return Attr(AttrKind.GRAPHS, tuple(builder.subgraph(g) for g in a.graphs))
    if k == A.SPARSE_TENSOR:
        return Attr(AttrKind.SPARSE_TENSOR, a.sparse_tensor.SerializeToString(deterministic=True))
    if k == A.TYPE_PROTO:
        return Attr(AttrKind.TYPE_PROTO, a.tp.SerializeToString(deterministic=True))
    if k == A.SPARSE_TENSORS:
        return Attr(AttrKind.SPARSE_TENSORS,
                    tuple(s.SerializeToString(deterministic=True) for s in a.sparse_tensors))
    if k == A.TYPE_PROTOS:
        return Attr(AttrKind.TYPE_PROTOS,
                    tuple(t.SerializeToString(deterministic=True) for t in a.type_protos))
    raise ModelLoadError(f"{builder.label}: attribute {a.name!r} has unsupported kind {k}")


def _decode(s: bytes) -> str | bytes:
    try:
        return s.decode("utf-8")
    except UnicodeDecodeError:
        return s


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    """The value of a ``Constant`` node, or ``None`` when it cannot be taken as data."""
    for a in node.attribute:
        if a.name == "value":
            return _tensor_to_array(a.t)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
        if a.name == "sparse_value":
            return _sparse_to_dense(a.sparse_tensor)
    return None


def _sparse_to_dense(sp: onnx.SparseTensorProto) -> np.ndarray:
    values = numpy_helper.to_array(sp.values)
    dense = np.zeros(tuple(sp.dims), dtype=values.dtype)
    idx = numpy_helper.to_array(sp.indices)
    if idx.ndim == 1:
        dense.reshape(-1)[idx] = values
    else:
        dense[tuple(idx.T)] = values
    return dense


class _GraphImporter:
    """Builds IR graphs from GraphProtos, resolving names through the scope chain."""

    def __init__(self, model: onnx.ModelProto, label: str):
        self.label = label
        self.opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version)
                       for o in model.opset_import}  # fmt: skip
        self.names = NameTable()
        self.scopes: list[dict[str, Value]] = []
        self.types: list[dict[str, onnx.TypeProto]] = []

    def lookup(self, name: str) -> Value:
        for scope in reversed(self.scopes):
            v = scope.get(name)
            if v is not None:
                return v
        raise ModelLoadError(f"{self.label}: {name!r} is read but never defined")

    def _type_of(self, name: str) -> Type | None:
        for types in reversed(self.types):
            tp = types.get(name)
            if tp is not None:
                return type_from_proto(tp)
        return None

    def subgraph(self, gp: onnx.GraphProto) -> Graph:
        return self.build(gp, top=False)

    def build(self, gp: onnx.GraphProto, *, top: bool) -> Graph:
        g = Graph(gp.name or "main", names=self.names)
        g.doc_string = gp.doc_string
        scope: dict[str, Value] = {}
        types = {vi.name: vi.type for vi in list(gp.value_info) + list(gp.output) + list(gp.input)}
        self.scopes.append(scope)
        self.types.append(types)
        try:
            inits = {t.name: t for t in gp.initializer}
            for t in gp.sparse_initializer:
                arr = _sparse_to_dense(t)
                c = g.add_constant(arr, t.values.name)
                scope[c.name] = c
            for t in gp.initializer:
                c = g.add_constant(_tensor_to_array(t), t.name, elem=DType(t.data_type))
                scope[c.name] = c
            for vi in gp.input:
                if vi.name in inits:
                    continue  # IR < 4 lists initializers as inputs too: they are constants
                v = g.add_input(Value(vi.name, type_from_proto(vi.type)))
                scope[v.name] = v
            for node in gp.node:
                self._add_node(g, node, scope)
            for vo in gp.output:
                v = self.lookup(vo.name)
                t = type_from_proto(vo.type)
                if t is not None and (v.type is None or not top):
                    v.type = t
                g.add_output(v)
        finally:
            self.scopes.pop()
            self.types.pop()
        return g

    def _add_node(self, g: Graph, node: onnx.NodeProto, scope: dict[str, Value]) -> None:
        domain = "" if node.domain == "ai.onnx" else node.domain
        if node.op_type == "Constant" and domain == "" and len(node.output) == 1:
            value = _constant_node_value(node)
            if value is not None:
                c = g.add_constant(value, node.output[0])
                scope[c.name] = c
                return
        inputs = [self.lookup(n) if n else None for n in node.input]
        attrs = {a.name: _attr_from_proto(a, self) for a in node.attribute}
        outputs = []
        for name in node.output:
            outputs.append(Value(name, self._type_of(name) if name else None))
        op = Op(node.op_type, inputs, attrs, domain=domain, version=self.opsets.get(domain),
                outputs=outputs, name=node.name)  # fmt: skip
        op.doc_string = node.doc_string
        g.append(op)
        for name, out in zip(node.output, op.outputs, strict=False):
            if name:
                scope[out.name] = out


def annotate_quant_types(model: Model) -> None:
    """Give QuantizeLinear results and DequantizeLinear integer constants their QuantType."""
    for op in model.graph.all_ops():
        if op.domain not in _ONNX_DOMAINS or op.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        scale, zp = op.input(1), op.input(2)
        if scale is None or not scale.is_constant or (zp is not None and not zp.is_constant):
            continue
        target = op.output if op.op_type == "QuantizeLinear" else op.input(0)
        tt = target.tensor_type if target is not None else None
        if tt is None or tt.is_quantized or not tt.dtype.is_integer:
            continue
        s = np.asarray(scale.const, dtype=np.float64)
        z = np.zeros(s.shape, dtype=np.int64) if zp is None else np.asarray(zp.const).astype(np.int64)
        if s.ndim > 1 or z.shape != s.shape or op.attr("block_size", 0):
            continue
        rank = tt.shape.rank
        axis = None
        if s.ndim == 1 and s.size > 1 or (s.ndim == 1 and rank is not None and rank > 0):
            axis = int(op.attr("axis", 1))
            if rank is not None and axis < 0:
                axis += rank
        try:
            q = QuantType(tt.dtype, tuple(s.reshape(-1)), tuple(z.reshape(-1)), axis=axis)
        except ValueError:
            continue  # a scale of 0 or a bad zero point: leave the plain integer type
        target.type = tt.with_elem(q)


def proto_to_ir(model: onnx.ModelProto, label: str = "<ModelProto>") -> Model:
    """Build the IR of an already checked, shape-inferred proto."""
    importer = _GraphImporter(model, label)
    graph = importer.build(model.graph, top=True)
    m = Model(graph, importer.opsets, ir_version=model.ir_version)
    m.producer_name = model.producer_name
    m.producer_version = model.producer_version
    m.domain = model.domain
    m.model_version = model.model_version
    m.doc_string = model.doc_string
    m.metadata_props = {p.key: p.value for p in model.metadata_props}
    m.functions = [f.SerializeToString(deterministic=True) for f in model.functions]
    annotate_quant_types(m)
    return m


def load_onnx(
    source: str | os.PathLike | onnx.ModelProto | bytes,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    fold_shapes: bool = True,
) -> Model:
    """Load an ONNX model (path, proto or bytes) into the IR.

    ``input_shapes`` binds dynamic input dims (``{"x": [1, 3, 48, 192]}``).  Raises
    :class:`~qcompiler.errors.ModelLoadError` with a one-line message naming the file and the
    node or value at fault.
    """
    with paused_gc():
        proto, label = read_model(source)
        check_structure(proto, label)
        proto = lower_legacy_ops(proto)  # before the checker, which warns about experimental ops
        proto = lower_contrib_ops(proto)  # before the checker, which rejects onnxruntime's default-domain ones
        check_schemas(proto, label)
        bind_input_shapes(proto, input_shapes or {}, label)
        proto = lower_einsum(proto)
        proto = lower_qoperator(proto)
        proto = lower_dynamic_quant(proto)
        proto = infer_shapes(proto, label)
        # Folding can make more shapes known (a Pad whose pads were computed from a Shape),
        # which lets the next round fold the Shapes of its result: repeat while it shrinks.
        for _ in range(_FOLD_ROUNDS if fold_shapes else 0):
            folded = fold_shape_subgraphs(proto, label)
            shrank = len(folded.graph.node) < len(proto.graph.node)
            proto = folded
            if not shrank:
                break
        model = proto_to_ir(proto, label)
    model.meta["source"] = label
    return model


class OnnxFrontend:
    """The built-in frontend for ``.onnx`` files."""

    name = "onnx"
    suffixes = (".onnx",)

    def can_load(self, path: str) -> bool:
        return str(path).lower().endswith(self.suffixes)

    def load(self, source, *, input_shapes=None, **options) -> Model:
        return load_onnx(source, input_shapes=input_shapes)


@hookimpl
def qcompiler_register_frontends():
    return [OnnxFrontend()]
