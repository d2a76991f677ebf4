"""A model's big initializers kept out of the work that does not read them.

onnx's shape inference and checker, and onnxruntime's session, take a serialized model: with
tens of MB of weights, serializing and parsing them cost more than the work itself (ResNet18:
about 50 ms a copy, several copies a compile). Shape inference needs only the weights' types
and shapes (the constants it propagates, such as a Reshape's shape, are small), so it runs on a
skeleton that declares the big float weights as typed inputs; onnxruntime gets them as arrays (``SessionOptions.add_external_initializers``).
"""

from __future__ import annotations

import numpy as np
import onnx

__all__ = ["BIG_BYTES", "big_initializers", "skeleton", "with_typed_inputs", "infer_shapes_light", "ort_session"]

#: Initializers of at least this many bytes are "big".
BIG_BYTES = 1 << 12


def _nbytes(t: onnx.TensorProto) -> int:
    if t.data_location == onnx.TensorProto.EXTERNAL or t.data_type in (0, onnx.TensorProto.STRING):
        return 0
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        return 0
    return int(np.prod(t.dims, dtype=np.int64)) * itemsize


_FLOATS = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE)


def big_initializers(model: onnx.ModelProto, min_bytes: int = BIG_BYTES,
                     floats_only: bool = False) -> list[onnx.TensorProto]:  # fmt: skip
    """The main graph's initializers of at least ``min_bytes`` (stored in the model);
    ``floats_only``: float ones only (integer constants can be shapes and indices that shape
    inference and folding read)."""
    return [t for t in model.graph.initializer
            if _nbytes(t) >= min_bytes and (not floats_only or t.data_type in _FLOATS)]  # fmt: skip


def with_typed_inputs(model: onnx.ModelProto, big: list[onnx.TensorProto]) -> onnx.ModelProto:
    """A skeleton of ``model`` without ``big``, which become typed graph inputs."""
    m = skeleton(model, {t.name for t in big})
    listed = {i.name for i in m.graph.input}
    for t in big:
        if t.name not in listed:
            m.graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return m


def skeleton(model: onnx.ModelProto, drop: set[str]) -> onnx.ModelProto:
    """A copy of ``model`` without the main graph's initializers named in ``drop``."""
    m = onnx.ModelProto()
    for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(m, field, getattr(model, field))
    m.opset_import.extend(model.opset_import)
    m.metadata_props.extend(model.metadata_props)
    m.functions.extend(model.functions)
    g, src = m.graph, model.graph
    g.name, g.doc_string = src.name, src.doc_string
    for field in ("node", "input", "output", "value_info", "sparse_initializer", "quantization_annotation"):
        getattr(g, field).extend(getattr(src, field))
    g.initializer.extend(t for t in src.initializer if t.name not in drop)
    return m


def infer_shapes_light(model: onnx.ModelProto, **kwargs) -> onnx.ModelProto:
    """``onnx.shape_inference.infer_shapes`` on a skeleton whose big initializers are typed
    graph inputs: the value types it infers are those of the whole model. The result lacks
    those initializers (and lists them as inputs)."""
    big = big_initializers(model, floats_only=True)
    if not big:
        return onnx.shape_inference.infer_shapes(model, **kwargs)
    return onnx.shape_inference.infer_shapes(with_typed_inputs(model, big), **kwargs)


def _consumed(graph: onnx.GraphProto) -> set[str]:
    """Names read by the graph's nodes (subgraphs included) or listed as its outputs."""
    names = {o.name for o in graph.output}
    for node in graph.node:
        names.update(node.input)
        for a in node.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                names |= _consumed(sub)
    return names


def ort_session(model: onnx.ModelProto, extra_outputs=(), **settings):
    """An onnxruntime CPU session of ``model`` (with ``extra_outputs`` as further graph
    outputs), its big initializers handed over as arrays: the model is serialized with stubs of
    external data in their place.  ``settings`` are ``SessionOptions`` attributes (for example
    ``intra_op_num_threads=1``), set on options of its own (they hold the arrays)."""
    import onnxruntime as ort

    used = _consumed(model.graph)
    big = big_initializers(model)
    m = skeleton(model, {t.name for t in big})
    big = [t for t in big if t.name in used]  # onnxruntime drops unused ones before replacing
    for t in big:
        stub = m.graph.initializer.add(name=t.name, data_type=t.data_type, dims=t.dims,
                                       data_location=onnx.TensorProto.EXTERNAL)  # fmt: skip
        stub.external_data.add(key="location", value="qcompiler-memory")
    present = {o.name for o in m.graph.output}
    for name in extra_outputs:
        if name not in present:
            m.graph.output.append(onnx.ValueInfoProto(name=name))
            present.add(name)
    opts = ort.SessionOptions()
    for key, value in settings.items():
        setattr(opts, key, value)
    # The OrtValues wrap the arrays' memory, which onnxruntime copies when the session is
    # made: both must live until then.
    arrays = [onnx.numpy_helper.to_array(t) for t in big]
    values = [ort.OrtValue.ortvalue_from_numpy(a) for a in arrays]
    if big:
        opts.add_external_initializers([t.name for t in big], values)
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    del values, arrays
    return sess
