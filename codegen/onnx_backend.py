"""The ONNX backend: IR to a ``ModelProto`` and to an ``.onnx`` file.

The written model passes ``onnx.checker.check_model(full_check=True)`` (checked before writing:
an invalid model is never written), is serialized deterministically (same IR, same bytes), and
is written atomically (a temporary file renamed into place), so a failed compile leaves
nothing half-written.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from qcompiler import __version__
from qcompiler.errors import BackendError
from qcompiler.frontend.big_weights import infer_shapes_light
from qcompiler.hookspecs import hookimpl
from qcompiler.ir import Attr, AttrKind, DType, Graph, Model, Op, OpaqueType, TensorType, Value
from qcompiler.ir.types import Type

__all__ = ["ir_to_proto", "save_onnx", "infer_types", "OnnxBackend", "BackendResult"]

_SUB_BYTE = (DType.INT4, DType.UINT4, DType.INT2, DType.UINT2, DType.FLOAT4E2M1)
_TWO_GB = 2**31 - 1


@dataclass
class BackendResult:
    """What a backend wrote and a summary of it (sizes, op counts...) for the user."""

    paths: list[str]
    summary: dict[str, Any] = field(default_factory=dict)


def _type_proto(t: Type | None) -> onnx.TypeProto:
    if isinstance(t, OpaqueType):
        return t.to_proto()
    tp = onnx.TypeProto()
    if isinstance(t, TensorType):
        tp.tensor_type.elem_type = int(t.dtype)
        if t.shape.dims is not None:
            shape = tp.tensor_type.shape
            shape.SetInParent()
            for d in t.shape.dims:
                dim = shape.dim.add()
                if isinstance(d, int):
                    dim.dim_value = d
                elif isinstance(d, str):
                    dim.dim_param = d
    return tp


def _value_info(v: Value) -> onnx.ValueInfoProto:
    vi = onnx.ValueInfoProto()
    vi.name = v.name
    if v.type is not None:
        vi.type.CopyFrom(_type_proto(v.type))
    return vi


def _tensor_proto(arr: np.ndarray, name: str, dtype: DType | None) -> onnx.TensorProto:
    arr = np.asarray(arr)
    if dtype is not None and dtype in _SUB_BYTE and arr.dtype.kind in "iu":
        return onnx.helper.make_tensor(name, int(dtype), arr.shape, arr.reshape(-1).tolist())
    t = numpy_helper.from_array(arr, name)
    if dtype is not None and t.data_type != int(dtype) and dtype not in _SUB_BYTE:
        t = numpy_helper.from_array(arr.astype(dtype.numpy()), name)
    return t


def _attr_proto(name: str, a: Attr) -> onnx.AttributeProto:
    k = a.kind
    if k == AttrKind.GRAPH:
        return onnx.helper.make_attribute(name, _graph_proto(a.value))
    if k == AttrKind.GRAPHS:
        p = onnx.AttributeProto()
        p.name, p.type = name, onnx.AttributeProto.GRAPHS
        p.graphs.extend(_graph_proto(g) for g in a.value)
        return p
    if k == AttrKind.TENSOR:
        return onnx.helper.make_attribute(name, _tensor_proto(a.value, "", None))
    if k == AttrKind.TENSORS:
        p = onnx.AttributeProto()
        p.name, p.type = name, onnx.AttributeProto.TENSORS
        p.tensors.extend(_tensor_proto(t, "", None) for t in a.value)
        return p
    p = onnx.AttributeProto()
    p.name, p.type = name, int(k)
    if k == AttrKind.FLOAT:
        p.f = a.value
    elif k == AttrKind.INT:
        p.i = a.value
    elif k == AttrKind.STRING:
        p.s = a.value.encode() if isinstance(a.value, str) else a.value
    elif k == AttrKind.FLOATS:
        p.floats.extend(a.value)
    elif k == AttrKind.INTS:
        p.ints.extend(a.value)
    elif k == AttrKind.STRINGS:
        p.strings.extend(s.encode() if isinstance(s, str) else s for s in a.value)
    elif k == AttrKind.SPARSE_TENSOR:
        p.sparse_tensor.ParseFromString(a.value)
    elif k == AttrKind.TYPE_PROTO:
        p.tp.ParseFromString(a.value)
    elif k == AttrKind.SPARSE_TENSORS:
        for b in a.value:
            p.sparse_tensors.add().ParseFromString(b)
    elif k == AttrKind.TYPE_PROTOS:
        for b in a.value:
            p.type_protos.add().ParseFromString(b)
    else:
        raise BackendError(f"attribute {name!r} has kind {k.name}, which cannot be serialized")
    return p


def _node_proto(op: Op) -> onnx.NodeProto:
    n = onnx.NodeProto()
    n.op_type = op.op_type
    n.domain = op.domain
    if op.name:
        n.name = op.name
    inputs = ["" if v is None else v.name for v in op.inputs]
    while inputs and inputs[-1] == "":
        inputs.pop()
    n.input.extend(inputs)
    n.output.extend(o.name for o in op.outputs)
    n.attribute.extend(_attr_proto(k, a) for k, a in op.attrs.items())
    if op.doc_string:
        n.doc_string = op.doc_string
    return n


def _graph_proto(g: Graph, *, constants_as_inputs: bool = False, value_info: bool = False) -> onnx.GraphProto:  # noqa: E501
    gp = onnx.GraphProto()
    gp.name = g.name
    if g.doc_string:
        gp.doc_string = g.doc_string
    gp.input.extend(_value_info(v) for v in g.inputs)
    if constants_as_inputs:
        gp.input.extend(_value_info(c) for c in g.constants)
    for c in g.constants:
        t = c.tensor_type
        gp.initializer.append(_tensor_proto(c.const, c.name, t.dtype if t is not None else None))
    for op in g:
        gp.node.append(_node_proto(op))
        if value_info:
            gp.value_info.extend(_value_info(o) for o in op.outputs if isinstance(o.type, TensorType))
    gp.output.extend(_value_info(v) for v in g.outputs)
    return gp


def ir_to_proto(model: Model, *, fill_types: bool = True, value_info: bool = False) -> onnx.ModelProto:  # noqa: E501
    """Serialize the IR to a ``ModelProto``.

    With ``fill_types``, values the graph outputs need but whose types are unknown (new values
    made by passes) get types from onnx shape inference first.
    """
    from qcompiler.ir.qc_ops import lower_to_onnx

    model = lower_to_onnx(model)
    if fill_types and any(v.type is None for v in _all_outputs(model.graph)):
        infer_types(model)
    mp = onnx.ModelProto()
    mp.ir_version = model.ir_version
    mp.producer_name = "qcompiler"
    mp.producer_version = __version__
    if model.domain:
        mp.domain = model.domain
    if model.model_version:
        mp.model_version = model.model_version
    if model.doc_string:
        mp.doc_string = model.doc_string
    used_domains = {("" if op.domain == "ai.onnx" else op.domain) for op in model.graph.all_ops()}
    for domain, version in model.opset_imports.items():
        if domain == "" or domain in used_domains or domain in _function_domains(model):
            mp.opset_import.append(onnx.helper.make_opsetid(domain, version))
    mp.graph.CopyFrom(_graph_proto(model.graph, constants_as_inputs=model.ir_version < 4,
                                   value_info=value_info))  # fmt: skip
    for key, value in model.metadata_props.items():
        p = mp.metadata_props.add()
        p.key, p.value = key, value
    for fb in model.functions:
        mp.functions.add().ParseFromString(fb)
    keep_float_layers_float(mp)
    return mp


def keep_float_layers_float(mp: onnx.ModelProto) -> int:
    """Keep float Conv/ConvTranspose/Gemm layers between quantized tensors float in onnxruntime.

    onnxruntime (1.20 on, its WeightBiasQuantization optimization) quantizes the float weights of
    such a layer to int8, one scale per tensor, when its input comes from a per-tensor
    DequantizeLinear and its output goes (through Relu/Clip) to a QuantizeLinear: a layer the
    user kept float (skip_quant_node) would silently lose its precision. That optimization only
    looks at per-tensor input scales, so the layer's input is dequantized per axis instead,
    with the same scale repeated: the same values, and the layer stays float. Returns how many
    layers were guarded.
    """
    opset = next((o.version for o in mp.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        return 0
    g = mp.graph
    producer = {o: n for n in g.node for o in n.output}
    # Only a layer whose weight no node produces (an initializer, not a DequantizeLinear) and
    # whose input a DequantizeLinear gives can need it; most models have none, and indexing the
    # initializers of a large model costs more than this scan.
    if not any(n.op_type in ("Conv", "ConvTranspose", "Gemm") and len(n.input) >= 2 and n.input[1] not in producer
               and getattr(producer.get(n.input[0]), "op_type", None) == "DequantizeLinear" for n in g.node):
        return 0
    inits = {t.name: t for t in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}

    def to_q(node) -> bool:
        cur = node
        while True:
            if len(cur.output) != 1 or cur.output[0] in outputs:
                return False
            cs = consumers.get(cur.output[0], [])
            if len(cs) != 1:
                return False
            if cs[0].op_type == "QuantizeLinear":
                return True
            if cs[0].op_type not in ("Relu", "Clip"):
                return False
            cur = cs[0]

    guarded = 0
    new_nodes = []
    for n in list(g.node):
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm") or n.domain not in ("", "ai.onnx") or len(n.input) < 2:
            continue
        w = inits.get(n.input[1])
        dq = producer.get(n.input[0])
        if w is None or w.data_type != onnx.TensorProto.FLOAT or dq is None or dq.op_type != "DequantizeLinear":
            continue
        sc = inits.get(dq.input[1]) if len(dq.input) > 1 else None
        if sc is None or int(np.prod(sc.dims)) != 1 or not to_q(n):
            continue
        if n.op_type == "Gemm":
            attrs = {a.name: a.i for a in n.attribute}
            k = w.dims[0] if attrs.get("transB", 0) == 0 else w.dims[1]
            axis = 0 if attrs.get("transA", 0) else 1
        else:
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            k = w.dims[0] if n.op_type == "ConvTranspose" else w.dims[1] * group
            axis = 1
        if k <= 1:
            continue  # one channel: a repeated scale would still be one value
        scale = numpy_helper.to_array(sc).reshape(-1)[0]
        zp_init = inits.get(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else None
        zp = numpy_helper.to_array(zp_init).reshape(-1) if zp_init is not None else np.zeros(1, np.uint8)
        base = f"{n.name or n.output[0]}_float_input"
        s_t = numpy_helper.from_array(np.full(k, scale, dtype=numpy_helper.to_array(sc).dtype), base + "_scale")
        z_t = numpy_helper.from_array(np.full(k, zp[0], dtype=zp.dtype), base + "_zero_point")
        g.initializer.extend([s_t, z_t])
        out = base + "_dequantized"
        new_nodes.append((n, onnx.helper.make_node("DequantizeLinear", [dq.input[0], s_t.name, z_t.name], [out],
                                                   name=base + "_dequantize", axis=axis)))  # fmt: skip
        n.input[0] = out
        guarded += 1
    for n, dq_node in new_nodes:  # insert each new DequantizeLinear just before its layer
        idx = list(g.node).index(n)
        g.node.insert(idx, dq_node)
    if guarded:  # drop DequantizeLinear nodes nothing reads any more
        used = {i for n in g.node for i in n.input} | outputs
        keep = [n for n in g.node if not (n.op_type == "DequantizeLinear" and n.output[0] not in used)]
        if len(keep) != len(g.node):
            del g.node[:]
            g.node.extend(keep)
    return guarded


def _function_domains(model: Model) -> set[str]:
    domains = set()
    for fb in model.functions:
        f = onnx.FunctionProto()
        f.ParseFromString(fb)
        domains.add(f.domain)
        domains.update(o.domain for o in f.opset_import)
    return domains


def _all_outputs(g: Graph):
    yield from g.outputs
    for op in g:
        for sub in op.regions():
            yield from _all_outputs(sub)


def infer_types(model: Model, *, refresh: bool = False) -> None:
    """Fill in value types with onnx shape inference.

    Values without a type get the inferred one; with ``refresh`` every op result's shape is
    recomputed (quantized element types are kept).  Graph inputs and constants are never
    changed.
    """
    proto = ir_to_proto(model, fill_types=False)
    if refresh:
        for o in proto.graph.output:
            o.type.tensor_type.ClearField("shape")
    try:
        inferred = infer_shapes_light(proto, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is best effort; unknown types stay unknown
        return
    types: dict[str, onnx.TypeProto] = {}

    def collect(gp: onnx.GraphProto) -> None:
        for vi in list(gp.value_info) + list(gp.output):
            types[vi.name] = vi.type
        for node in gp.node:
            for a in node.attribute:
                for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    collect(sub)

    collect(inferred.graph)
    from qcompiler.frontend.onnx_frontend import type_from_proto

    for op in model.graph.all_ops():
        for o in op.outputs:
            tp = types.get(o.name)
            if tp is None:
                continue
            t = type_from_proto(tp)
            if t is None:
                continue
            if o.type is None:
                o.type = t
            elif refresh and isinstance(o.type, TensorType) and isinstance(t, TensorType) and t.shape.dims is not None:
                o.type = o.type.with_shape(t.shape)  # inference that knows nothing keeps what was known


def _check(proto: onnx.ModelProto, label: str) -> None:
    try:
        if proto.ByteSize() < _TWO_GB:
            onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackendError(f"{label}: refusing to write an invalid model: {first}") from e


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    if path.is_dir():
        raise BackendError(f"{path}: is a directory; give an output file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BackendError(f"{path}: folder {str(parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a written model is an ordinary file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_onnx(model: Model, path: str | os.PathLike, *, check: bool = True) -> onnx.ModelProto:
    """Serialize, check and write ``model`` to ``path``; returns the written proto."""
    from qcompiler.utils import paused_gc

    with paused_gc():
        proto = ir_to_proto(model)
    if check:
        _check(proto, str(path))
    if proto.ByteSize() >= _TWO_GB:
        raise BackendError(f"{path}: the model is over 2 GB; external data output is not "
                           "supported yet")  # fmt: skip
    write_atomic(path, proto.SerializeToString(deterministic=True))
    return proto


class OnnxBackend:
    """Writes the model as an ONNX file (QDQ for quantized models)."""

    name = "onnx"
    description = "serialized ONNX model (QuantizeLinear/DequantizeLinear), run by onnxruntime"

    def emit(self, model: Model, output: str, *, ctx: Any = None) -> BackendResult:
        proto = save_onnx(model, output)
        n_ops = sum(1 for _ in model.graph.all_ops())
        return BackendResult([str(output)], {"ops": n_ops, "bytes": proto.ByteSize()})


@hookimpl
def qcompiler_register_backends():
    return [OnnxBackend()]
